"""Who is asking: bearer tokens, optional JWTs, and the ACL-based policy.

A request is authenticated by ``Authorization: Bearer <token>`` where the
token is one this server issued (``<token id>.<secret>``; only a hash of
the secret is stored) or, when configured, a JWT signed by the
application's own auth service whose ``sub`` is the user id:

``myproject.jwt.secret``           HS256 shared secret (or ``${ENV}``)
``myproject.jwt.public_key_file``  RS256 public key (PEM) instead
``myproject.jwt.audience``         required ``aud``, optional
``myproject.jwt.issuer``           required ``iss``, optional
``myproject.jwt.create_users``     create a user on its first valid JWT
                                   (default true)

Principals: ``user:<id>`` for an authenticated user, ``role:admin`` for an
admin user.  Permissions are granted by the resources' ACLs.
"""
import logging

import jwt
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.request import RequestLocalCache
from pyramid.settings import asbool

from .resources import ADMIN, root_factory, user_principal

log = logging.getLogger(__name__)


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
    """Return a JWTVerifier for the settings, or None if JWTs are off."""
    secret = settings.get("myproject.jwt.secret")
    key_file = settings.get("myproject.jwt.public_key_file")
    if not secret and not key_file:
        return None
    if key_file:
        with open(key_file, "rb") as f:
            key, algorithm = f.read(), "RS256"
    else:
        key, algorithm = secret, "HS256"
    return JWTVerifier(
        key=key, algorithm=algorithm,
        audience=settings.get("myproject.jwt.audience") or None,
        issuer=settings.get("myproject.jwt.issuer") or None)


def bearer_token(request):
    """Return the bearer token of the request, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
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
        user = site.users.get(user_id)
        if user is None and self.create_users:
            try:
                user = site.users.add(
                    user_id,
                    sets=request.registry.settings["myproject.user_sets"])
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
        return principals

    def permits(self, request, context, permission):
        return self.acl.permits(context, self.principals(request), permission)

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def includeme(config):
    settings = config.registry.settings
    config.set_security_policy(SecurityPolicy(
        jwt_verifier=jwt_verifier_from_settings(settings),
        create_users=asbool(settings.get("myproject.jwt.create_users", True)),
    ))
