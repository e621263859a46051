"""Who is asking: bearer tokens, optional JWTs, and the ACL-based policy.

A request is authenticated by ``Authorization: Bearer <token>`` where the
token is one this server issued (``<token id>.<secret>``; only a hash of
the secret is stored) or, when configured, a JWT signed by the
application's own auth service whose ``sub`` is the user id
(``myproject.jwt.*`` settings).

Principals: ``user:<id>`` for an authenticated user, ``role:admin`` for an
admin user.  Permissions are granted by the resources' ACLs.

Admin pages (``myproject.views.admin``) are the exception: their
permission, ``admin-pages``, is granted only to ``role:admin-session``, the
principal of a browser logged in through the admin login form (a signed
session cookie), never to a bearer token or JWT, and never through an ACL.
That principal is in no ACL, so the session cookie opens no API view (the
API has no CSRF protection and must not be reachable with cookies).  The
session is configured by the ``myproject.admin.session_*`` settings.

No existence oracle: ``tree_access_tween_factory`` decides, before
traversal looks anything up, whether the caller may see the tree a
``/users/<id>/...`` path leads into, by that tree's ACL whether or not its
user exists (``resources.TreeGate``).  A caller who may not is refused
there (401 without valid credentials, else 403: ``views.errors.forbidden``),
so only callers who may see the tree learn what is missing in it (404).
"""
import logging
import secrets

import jwt
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.httpexceptions import HTTPBadRequest, HTTPForbidden
from pyramid.request import RequestLocalCache
from pyramid.security import Allowed, Denied
from pyramid.session import SignedCookieSessionFactory
from pyramid.traversal import split_path_info
from pyramid.tweens import EXCVIEW

from .resources import (
    ADMIN,
    TreeGate,
    create_user,
    is_text,
    root_factory,
    user_principal,
)
from .settings import app_settings

log = logging.getLogger(__name__)

# Admin pages: the principal only the admin login grants, the permission
# only that principal has, and where the session keeps the login.
ADMIN_SESSION = "role:admin-session"
ADMIN_PAGES = "admin-pages"
SESSION_COOKIE = "myproject_admin"
SESSION_LOGIN_KEY = "myproject.admin.login"


class JWTVerifier:
    """Verifies JWTs from the application's auth service."""

    def __init__(self, *, key, algorithm, audience=None, issuer=None):
        self.key = key
        self.algorithm = algorithm
        self.audience = audience
        self.issuer = issuer

    def subject(self, token):
        """Return the token's ``sub``, or None if the token is not valid."""
        try:
            claims = jwt.decode(
                token, self.key, algorithms=[self.algorithm],
                audience=self.audience, issuer=self.issuer,
                options={"require": ["sub", "exp"]}, leeway=30)
        except jwt.PyJWTError as e:
            log.info("rejected a JWT: %s", e.__class__.__name__)
            return None
        subject = claims["sub"]
        return subject if isinstance(subject, str) else None


def jwt_verifier_from_settings(settings):
    """Return a JWTVerifier for the parsed settings, or None if JWTs are off."""
    secret = settings.jwt_secret
    key_file = settings.jwt_public_key_file
    if not secret and not key_file:
        return None
    if key_file:
        with open(key_file, "rb") as f:
            key, algorithm = f.read(), "RS256"
    else:
        key, algorithm = secret, "HS256"
    return JWTVerifier(
        key=key, algorithm=algorithm,
        audience=settings.jwt_audience or None,
        issuer=settings.jwt_issuer or None)


def bearer_token(request):
    """Return the bearer token of the request, or None."""
    return parse_bearer(request.headers.get("Authorization", ""))


def parse_bearer(authorization):
    """Return the token of an ``Authorization: Bearer`` value, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class SecurityPolicy:
    """Bearer-token (and JWT) identities; ACL permissions."""

    def __init__(self, *, jwt_verifier=None, create_users=True):
        self.jwt_verifier = jwt_verifier
        self.create_users = create_users
        self.acl = ACLHelper()
        self._cache = RequestLocalCache(self._load_identity)

    def identity(self, request):
        """Return the User the request is authenticated as, or None."""
        return self._cache.get_or_create(request)

    def reset(self, request):
        """Forget the identity found for request, to be found again (the
        poll's shortcut found it on a connection of its own)."""
        self._cache.clear(request)

    def _load_identity(self, request):
        token = bearer_token(request)
        if token is None:
            return None
        # pyramid_tm asks for the user id before traversal has run.
        site = getattr(request, "root", None) or root_factory(request)
        if token.count(".") == 2 and self.jwt_verifier is not None:
            return self._jwt_user(request, site, token)
        return site.user_for_token(token)

    def _jwt_user(self, request, site, token):
        user_id = self.jwt_verifier.subject(token)
        if user_id is None:
            return None
        if not is_text(user_id):
            # Signed by the auth service, yet no user can have that id.
            raise HTTPBadRequest("the token's subject is not Unicode text")
        user = site.users.get(user_id)
        if user is None and self.create_users:
            try:
                user = create_user(site.users, app_settings(request.registry),
                                   user_id)
            except ValueError:
                return None
        return user

    def authenticated_userid(self, request):
        user = self.identity(request)
        return None if user is None else user.id

    def principals(self, request):
        principals = [Everyone]
        user = self.identity(request)
        if user is not None:
            principals += [Authenticated, user_principal(user.id)]
            if user.admin:
                principals.append(ADMIN)
        if admin_login(request) is not None:
            principals.append(ADMIN_SESSION)
        return principals

    def permits(self, request, context, permission):
        if permission == ADMIN_PAGES:
            # Not through the ACLs: role:admin has ALL_PERMISSIONS there.
            if ADMIN_SESSION in self.principals(request):
                return Allowed("an admin session")
            return Denied("admin pages need the admin login")
        return self.acl.permits(context, self.principals(request), permission)

    def remember(self, request, userid, **kw):
        """Start an admin session for userid (a new session: no fixation)."""
        request.session.invalidate()
        request.session[SESSION_LOGIN_KEY] = userid
        return []

    def forget(self, request, **kw):
        """End the admin session, if any."""
        if SESSION_COOKIE in request.cookies:
            request.session.invalidate()
        return []


def admin_login(request):
    """Return the name the admin session is logged in as, or None.

    Requests without the session cookie (every API request) never touch
    the session.
    """
    if ("HTTP_COOKIE" not in request.environ  # cheaper than parsing none
            or SESSION_COOKIE not in request.cookies):
        return None
    return request.session.get(SESSION_LOGIN_KEY)


def tree_access_tween_factory(handler, registry):
    """Refuse a ``/users/<id>/...`` request whose caller may not see that
    tree, before traversal can tell whether the user or anything in the
    tree exists."""

    def tree_access_tween(request):
        user_id = tree_of(request.path_info)
        if user_id is not None and not request.has_permission(
                "view", TreeGate(user_id, root_factory(request).users)):
            raise HTTPForbidden()  # 401 or 403: views.errors.forbidden
        return handler(request)

    return tree_access_tween


def tree_of(path):
    """Return the user id of the tree path leads into, or None; the path's
    segments are resolved as traversal resolves them ('.', '..', '').
    Admin pages are not the API's: their own permission and error pages
    (which hide what exists from all but the admin login) apply."""
    segments = split_path_info(path)
    if (len(segments) < 2 or segments[0] != "users"
            or segments[1].startswith("@@") or is_admin_path(path)):
        return None
    return segments[1]


def is_admin_path(path):
    """Does the path name an admin page (a ``@@admin...`` segment)?"""
    return any(segment.startswith("@@admin") for segment in path.split("/"))


def session_factory_from_settings(settings):
    """Return the signed-cookie session factory of the admin pages."""
    secret = settings.admin_session_secret
    if not secret:
        log.warning("myproject.admin.session_secret is not set: admin "
                    "sessions end when this process stops")
        secret = secrets.token_urlsafe(32)
    timeout = settings.admin_session_timeout
    return SignedCookieSessionFactory(
        secret, cookie_name=SESSION_COOKIE, salt="myproject.admin.session",
        secure=settings.admin_session_secure,
        httponly=True, samesite="Lax", timeout=timeout,
        reissue_time=max(1, timeout // 10), hashalg="sha512")


def includeme(config):
    settings = app_settings(config.registry)
    config.set_security_policy(SecurityPolicy(
        jwt_verifier=jwt_verifier_from_settings(settings),
        create_users=settings.jwt_create_users,
    ))
    config.set_session_factory(session_factory_from_settings(settings))
    config.add_tween("myproject.security.tree_access_tween_factory",
                     under="pyramid_tm.tm_tween_factory", over=EXCVIEW)
