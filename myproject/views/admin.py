"""Admin pages: HTML views on the resources the API uses.

Every page is a view named ``admin`` (or ``admin-<action>`` for a form's
POST) on the resource it shows, so the URL of a page is the API URL of the
thing plus ``/@@admin``:

``/@@admin``                          dashboard
``/@@admin-login``, ``/@@admin-logout``  log in (form), log out (POST)
``/users/@@admin?q=&start=``          users: prefix search, pages in id order
``/users/@@admin-create``             POST: create a user, show its token once
``/users/<id>/@@admin``               a user: tree outline, devices, tokens
``/users/<id>/@@admin-revoke-token``  POST ``token_id``
``/users/<id>/@@admin-remove-device`` POST ``device`` (a hash of the token)
``/users/<id>/@@admin-push``          POST: a test push to the user's devices
``/users/<id>/<set>/.../@@admin``     a set: its members, page by page
``/users/<id>/<set>/<doc>/@@admin``   a document: its JSON, owner, holders
``.../<doc>/@@admin-delete``          POST: delete the document

Only a browser logged in through the login form reaches them: their
permission is ``security.ADMIN_PAGES``, held only by the admin session
principal; a bearer token (even an admin's) is never enough.  A GET without
that login redirects to the login form; a POST gets an HTML 403.  Every form
carries Pyramid's CSRF token: the views have ``require_csrf=True`` (the
JSON API uses bearer tokens, never cookies, and keeps no CSRF check).

Settings:

``myproject.admin.username``       the admin's login name
``myproject.admin.password_hash``  from ``python -m myproject.scripts.hash_password``
``myproject.admin.login_attempts`` failed logins allowed from one address
                                   within the window (default 5)
``myproject.admin.login_window``   that window, in seconds (default 900); a
                                   further try gets 429 with Retry-After
                                   until the oldest failure is that old

Without the first two, the login form only says that admin login is off.
The session settings are in ``myproject.security``.
"""
import datetime
import hmac
import itertools
import json
import logging
import math
import re
from functools import partial
from urllib.parse import urlencode

from pyramid.csrf import get_csrf_token, new_csrf_token
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken, ConfigurationError
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.location import lineage
from pyramid.security import forget, remember
from pyramid.view import (
    exception_view_config,
    forbidden_view_config,
    notfound_view_config,
    view_config,
)
from pyramid_zodbconn import get_connection

from ..generationalset import GSet
from ..push.sender import token_hash
from ..resources import DocumentNode, SetNode, Site, User, Users
from ..scripts.hash_password import parse_password_hash, verify_password
from ..security import ADMIN_PAGES, admin_login
from ..throttle import LoginThrottle

log = logging.getLogger(__name__)

USERS_PAGE_SIZE = 50
SET_PAGE_SIZE = 100
_PAGE = re.compile(r"[0-9]{1,6}\Z")
OUTLINE_PER_SET = 50      # members shown per set in a tree outline
OUTLINE_BUDGET = 500      # members shown in one outline at most
DOCUMENT_SAMPLE = 200     # users whose trees the dashboard counts
RECENT_TRANSACTIONS = 20

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def template(name):
    return f"myproject:templates/admin_{name}.jinja2"


# Credentials, headers, the page frame

class AdminCredentials:
    """The admin login name and password hash from the settings."""

    def __init__(self, username, password_hash):
        self.username = username
        self.password_hash = password_hash

    def check(self, username, password):
        """Return whether both match; always takes the time of a hash."""
        name_ok = hmac.compare_digest(username.encode("utf-8"),
                                      self.username.encode("utf-8"))
        password_ok = verify_password(password, self.password_hash)
        return name_ok and password_ok


def credentials_from_settings(settings):
    """Return AdminCredentials, or None when admin login is not configured."""
    username = settings.get("myproject.admin.username", "").strip()
    password_hash = settings.get("myproject.admin.password_hash", "").strip()
    if not username or not password_hash:
        return None
    try:
        parse_password_hash(password_hash)
    except ValueError as e:
        raise ConfigurationError(f"myproject.admin.password_hash: {e}") from None
    return AdminCredentials(username, password_hash)


def throttle_from_settings(settings):
    """Return the LoginThrottle the login settings ask for."""
    values = {}
    for name, key, kind, default in (
            ("attempts", "myproject.admin.login_attempts", int, 5),
            ("window", "myproject.admin.login_window", float, 900.0)):
        raw = str(settings.get(key, "")).strip()
        try:
            value = kind(raw) if raw else default
        except ValueError:
            value = None
        if value is None or not value >= 1 or not math.isfinite(value):
            raise ConfigurationError(
                f"{key}: a number of at least 1 is needed, not {raw!r}")
        values[name] = value
    return LoginThrottle(**values)


def _set_page_headers(request, response):
    headers = response.headers
    headers["Cache-Control"] = "no-store"
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"


def page_headers(view):
    """View decorator: no caching, no framing, no scripts, for every page."""
    def with_page_headers(context, request):
        request.add_response_callback(_set_page_headers)
        return view(context, request)
    return with_page_headers


#: An admin page or action: the admin permission and the CSRF check.
admin_view = partial(view_config, permission=ADMIN_PAGES, require_csrf=True,
                     decorator=page_headers)


class AdminPagePredicate:
    """``admin_page=True``: the path names an admin page (``@@admin...``).

    Used by the HTML error views below, so that the API's errors stay JSON.
    No API path has such a segment: ids may not start with ``@@``.
    """

    def __init__(self, value, config):
        self.value = bool(value)

    def text(self):
        return f"admin_page = {self.value}"

    phash = text

    def __call__(self, context, request):
        return self.value == is_admin_path(request.path_info)


def is_admin_path(path):
    return any(segment.startswith("@@admin") for segment in path.split("/"))


def page(request, title, **values):
    """Return the values every page template gets, plus values."""
    site = request.root
    session = request.session
    values.update(
        title=title,
        login=admin_login(request),
        csrf_token=get_csrf_token(request),
        messages=session.pop_flash("info"),
        errors=values.get("errors") or session.pop_flash("error"),
        css_url=request.static_url("myproject:static/admin.css"),
        urls={
            "dashboard": request.resource_url(site, "@@admin"),
            "users": request.resource_url(site.users, "@@admin"),
            "login": request.resource_url(site, "@@admin-login"),
            "logout": request.resource_url(site, "@@admin-logout"),
        },
    )
    values.setdefault("breadcrumbs", [])
    return values


def breadcrumbs(request, context):
    """Return (label, url) pairs from the dashboard down to context."""
    crumbs = []
    for resource in reversed(list(lineage(context))):
        if isinstance(resource, Site):
            label = "dashboard"
        else:
            label = resource.__name__
        crumbs.append((label, request.resource_url(resource, "@@admin")))
    return crumbs


def audit(request, note):
    """Name the admin and the action in the transaction's metadata."""
    txn = request.tm.get()
    txn.user = f"admin-session {admin_login(request)}"
    txn.note(f"admin: {note}")


def when(moment):
    """Format a datetime (or None) for a page."""
    if moment is None:
        return "never"
    return moment.astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def size_text(size):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def pretty_json(data):
    return json.dumps(data, indent=2, ensure_ascii=False, default=repr)


def short_token(token):
    """Return a device token shortened for display (never the whole)."""
    if len(token) <= 12:
        return token[:3] + "…"
    return f"{token[:6]}…{token[-4:]}"


def _local_path(value):
    """Return value if it is a path on this site (no open redirects), else None."""
    if (isinstance(value, str) and value.startswith("/")
            and not value.startswith("//") and "\\" not in value
            and is_admin_path(value.split("?", 1)[0])):
        return value
    return None


# Logging in and out

@view_config(context=Site, name="admin-login", request_method=("GET", "POST"),
             renderer=template("login"), require_csrf=True,
             decorator=page_headers)
def login(context, request):
    """Show the login form; log in on a POST with the right credentials."""
    credentials = request.registry.admin_credentials
    came_from = (_local_path(request.params.get("came_from"))
                 or request.resource_path(context, "@@admin"))
    errors = []
    username = ""
    if request.method == "POST":
        username = request.POST.get("username", "")
        password = request.POST.get("password", "")
        throttle = request.registry.login_throttle
        address = request.client_addr
        wait = throttle.retry_after(address)
        if credentials is None:
            errors.append("Admin login is not configured on this server.")
        elif wait:
            # Refused unchecked: no password is tried, no scrypt is run.
            request.response.status = 429
            request.response.headers["Retry-After"] = str(wait)
            errors.append(
                "Too many failed logins from your address; try again in "
                f"{_minutes(wait)}.")
        elif credentials.check(username, password):
            throttle.succeeded(address)
            remember(request, username)
            new_csrf_token(request)
            log.info("admin %r logged in from %s", username, address)
            return HTTPSeeOther(location=came_from)
        else:
            log.warning("failed admin login as %r from %s", username[:64],
                        address)
            if throttle.failed(address):
                log.warning(
                    "admin login from %s paused: %d failed logins within "
                    "%g s", address, throttle.attempts, throttle.window)
            errors.append("Wrong username or password.")
    elif admin_login(request) is not None:
        return HTTPSeeOther(location=came_from)
    return page(request, "Log in", errors=errors, username=username,
                came_from=came_from, configured=credentials is not None)


def _minutes(seconds):
    minutes = -(-seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@view_config(context=Site, name="admin-logout", request_method="POST",
             require_csrf=True, decorator=page_headers)
def logout(context, request):
    """End the admin session."""
    forget(request)
    request.session.flash("Logged out.", "info")
    return HTTPSeeOther(location=request.resource_path(context, "@@admin-login"))


# Errors on admin pages: HTML, not the API's JSON

def _to_login(request):
    site = request.root
    query = urlencode({"came_from": request.path_qs})
    return HTTPSeeOther(
        location=request.resource_path(site, "@@admin-login") + "?" + query)


@forbidden_view_config(admin_page=True, renderer=template("error"),
                       decorator=page_headers)
def admin_forbidden(exc, request):
    if request.method in ("GET", "HEAD") and admin_login(request) is None:
        return _to_login(request)
    request.response.status = 403
    return page(request, "Not allowed", message=(
        "This needs the admin login."
        if admin_login(request) is None else "This is not allowed."))


@notfound_view_config(admin_page=True, renderer=template("error"),
                      decorator=page_headers)
def admin_not_found(exc, request):
    if admin_login(request) is None:
        # The same answer as for a page that exists: reveal nothing.
        return admin_forbidden(exc, request)
    request.response.status = 404
    return page(request, "Not found",
                message=f"There is no page at {request.path}.")


@exception_view_config(BadCSRFToken, admin_page=True,
                       renderer=template("error"), decorator=page_headers)
@exception_view_config(BadCSRFOrigin, admin_page=True,
                       renderer=template("error"), decorator=page_headers)
def admin_bad_csrf(exc, request):
    request.response.status = 400
    return page(request, "Form refused", message=(
        "The form's security token is missing or out of date (or the form "
        "came from another site), so nothing was done.  Reload the page "
        "and try again."))


# Dashboard

@admin_view(context=Site, name="admin", request_method="GET",
            renderer=template("dashboard"))
def dashboard(context, request):
    """Counts, the database, recent transactions, push counters."""
    db = get_connection(request).db()
    dispatcher = getattr(request.registry, "push_dispatcher", None)
    return page(
        request, "Dashboard",
        user_count=len(context.users),
        documents=count_documents(context.users),
        database=database_summary(db),
        transactions=recent_transactions(db),
        push=None if dispatcher is None else sorted(dispatcher.stats().items()),
        senders=_senders(dispatcher),
    )


def count_documents(users, sample=None):
    """Return {'count', 'estimated', 'sampled'}: documents in the trees.

    Counts the trees of the first ``sample`` users (id order) and
    extrapolates to the rest.  A shared document counts in each tree.
    """
    sample = DOCUMENT_SAMPLE if sample is None else sample
    total = len(users)
    counted = sampled = 0
    for user in itertools.islice(users.values(), sample):
        counted += _documents_in(user.tree)
        sampled += 1
    estimated = sampled < total
    count = round(counted * total / sampled) if estimated else counted
    return {"count": count, "estimated": estimated, "sampled": sampled}


def _documents_in(gset):
    count = 0
    for ob in gset:
        count += _documents_in(ob) if isinstance(ob, GSet) else 1
    return count


def database_summary(db):
    try:
        size = size_text(db.getSize())
    except Exception:  # some storages cannot tell
        size = "unknown"
    return {"name": db.database_name, "storage": db.getName(), "size": size}


def recent_transactions(db, count=RECENT_TRANSACTIONS):
    """Return the latest transactions (newest first), or None if not kept."""
    try:
        if not db.supportsUndo():  # history-free RelStorage keeps none
            return None
        log_entries = db.undoLog(0, count)
    except Exception:
        return None
    return [{
        "time": datetime.datetime.fromtimestamp(
            entry["time"], datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S UTC"),
        "user": _text(entry.get("user_name", "")),
        "description": _text(entry.get("description", "")),
    } for entry in log_entries]


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _senders(dispatcher):
    senders = getattr(dispatcher, "senders", None)
    if not isinstance(senders, dict):
        return []
    return sorted((platform, type(sender).__name__)
                  for platform, sender in senders.items())


# Users

@admin_view(context=Users, name="admin", request_method="GET",
            renderer=template("users"))
def users_page(context, request):
    """Users in id order: a prefix search, a page at a time."""
    return users_values(request, context, request.GET.get("q", "").strip(),
                        request.GET.get("start", ""))


def users_values(request, users, prefix="", start="", **values):
    """Return the users page's values: a page of users from start on."""
    rows, next_start = users_from(users, prefix, start)
    next_url = None
    if next_start is not None:
        query = {"start": next_start, **({"q": prefix} if prefix else {})}
        next_url = request.resource_url(users, "@@admin", query=query)
    return page(
        request, "Users", breadcrumbs=breadcrumbs(request, users),
        prefix=prefix, total=len(users), paged=bool(start),
        users=[user_row(request, user) for user in rows], next_url=next_url,
        create_url=request.resource_url(users, "@@admin-create"), **values)


def users_from(users, prefix="", start="", size=USERS_PAGE_SIZE):
    """Return (up to size users with the prefix from start on, next start)."""
    low = max(prefix, start) or None
    rows = []
    for user in users.values(min=low):
        if not user.id.startswith(prefix):
            break
        if len(rows) == size:
            return rows, user.id
        rows.append(user)
    return rows, None


def user_row(request, user):
    return {
        "id": user.id,
        "url": request.resource_url(user, "@@admin"),
        "admin": user.admin,
        "generation": user.tree.generation,
        "created": when(getattr(user, "created", None)),
        "tokens": len(user.tokens),
        "devices": len(user.devices),
    }


@admin_view(context=Users, name="admin-create", request_method="POST",
            renderer=template("created"))
def user_create(context, request):
    """Create a user with the configured sets; show its token once."""
    user_id = request.POST.get("id", "").strip()
    admin = request.POST.get("admin") == "on"
    errors = []
    try:
        user = context.add(user_id, admin=admin,
                           sets=request.registry.settings["myproject.user_sets"])
    except ValueError as e:
        errors.append(f"Cannot create that user: {e}.")
        request.response.status = 422
    except KeyError:
        errors.append(f"User {user_id!r} exists already.")
        request.response.status = 409
    if errors:
        request.override_renderer = template("users")
        return users_values(request, context, errors=errors, new_id=user_id)
    token = user.new_token("created on the admin pages")
    audit(request, f"create user {user_id}")
    return page(request, f"User {user_id} created",
                breadcrumbs=breadcrumbs(request, user), user=user_row(request, user),
                token=token)


# A user

@admin_view(context=User, name="admin", request_method="GET",
            renderer=template("user"))
def user_page(context, request):
    """The user's tree as an outline, its devices and tokens."""
    return page(
        request, f"User {context.id}",
        breadcrumbs=breadcrumbs(request, context),
        user=user_row(request, context),
        outline=outline(request, context.tree, context, budget=[OUTLINE_BUDGET]),
        devices=device_rows(context),
        tokens=[{
            "id": token.id, "label": token.label, "created": when(token.created),
            "last_used": when(token.last_used),
        } for token in context.tokens.values()],
        push_configured=hasattr(request.registry, "push_dispatcher"),
        actions={name: request.resource_url(context, "@@admin-" + name)
                 for name in ("revoke-token", "remove-device", "push")},
    )


def outline(request, gset, resource, *, start=0, count=None, budget):
    """Return the entries of gset's members (id order), sets with theirs.

    ``resource`` is the traversal resource of gset; ``budget`` (a one-item
    list) bounds the entries of the whole outline.
    """
    count = OUTLINE_PER_SET if count is None else count
    entries = []
    for member_id, member in itertools.islice(gset.items(), start, start + count):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        name = str(member_id)
        url = request.resource_url(resource, name, "@@admin")
        if isinstance(member, GSet):
            child = SetNode(member, name, resource)
            children = outline(request, member, child, budget=budget)
            entries.append({
                "kind": "set", "id": name, "url": url,
                "generation": member.generation, "size": len(member),
                "children": children, "more": len(member) - len(children),
            })
        else:
            data = getattr(member, "data", member)
            holders = getattr(member, "holders", ())
            entries.append({
                "kind": "document", "id": name, "url": url,
                "json": pretty_json(data), "shared": len(holders) > 1,
            })
    return entries


def device_rows(user):
    return [{
        "platform": device.platform,
        "environment": getattr(device, "environment", ""),
        "token": short_token(token),
        "key": token_hash(token),
        "created": when(getattr(device, "created", None)),
    } for token, device in user.devices.items()]


@admin_view(context=User, name="admin-revoke-token", request_method="POST")
def token_revoke(context, request):
    """Revoke one of the user's bearer tokens."""
    token_id = request.POST.get("token_id", "")
    try:
        context.revoke_token(token_id)
    except KeyError:
        request.session.flash(f"{context.id} has no token {token_id!r}.", "error")
    else:
        audit(request, f"revoke token {token_id} of {context.id}")
        request.session.flash(f"Token {token_id} revoked.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


@admin_view(context=User, name="admin-remove-device", request_method="POST")
def device_remove(context, request):
    """Unregister one of the user's devices, named by a hash of its token."""
    key = request.POST.get("device", "")
    tokens = [t for t in context.devices.keys() if token_hash(t) == key]
    if not tokens:
        request.session.flash("No such device (removed already?).", "error")
    else:
        request.root.unregister_device(context, tokens[0])
        audit(request, f"remove device #{key} of {context.id}")
        request.session.flash(f"Device {short_token(tokens[0])} removed.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


@admin_view(context=User, name="admin-push", request_method="POST")
def test_push(context, request):
    """Send the user's devices a push of the tree's current generation."""
    dispatcher = getattr(request.registry, "push_dispatcher", None)
    if dispatcher is None:
        request.session.flash(
            "Push is not configured on this server: nothing was sent.", "error")
    elif not len(context.devices):
        request.session.flash(f"{context.id} has no devices.", "error")
    else:
        # Imported here: the push package is optional for these pages.
        from ..push import Device
        devices = [Device(d.platform, d.token, getattr(d, "environment",
                                                         "production"))
                   for d in context.devices.values()]
        generation = context.tree.generation
        dispatcher.submit(context.id, generation, devices)
        log.info("admin test push to %s (%d devices)", context.id, len(devices))
        request.session.flash(
            f"Test push of generation {generation} queued for "
            f"{len(devices)} device(s); see the push counters on the "
            "dashboard.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


# Sets and documents

@admin_view(context=SetNode, name="admin", request_method="GET",
            renderer=template("set"))
def set_page(context, request):
    """A set's members, SET_PAGE_SIZE at a time, subsets outlined."""
    gset = context.gset
    page_number = request.GET.get("page", "1")
    page_number = (int(page_number) if _PAGE.match(page_number)
                   and int(page_number) else 1)
    start = (page_number - 1) * SET_PAGE_SIZE
    pages = max(1, -(-len(gset) // SET_PAGE_SIZE))
    here = request.resource_url(context, "@@admin")
    return page(
        request, f"Set {context.__name__} of {context.user.id}",
        breadcrumbs=breadcrumbs(request, context),
        gset={"id": context.__name__, "generation": gset.generation,
              "size": len(gset), "tree_generation": gset.root.generation},
        outline=outline(request, gset, context, start=start,
                        count=SET_PAGE_SIZE, budget=[OUTLINE_BUDGET]),
        page_number=page_number, pages=pages,
        previous_url=page_number > 1 and f"{here}?page={page_number - 1}",
        next_url=page_number < pages and f"{here}?page={page_number + 1}",
    )


@admin_view(context=DocumentNode, name="admin", request_method="GET",
            renderer=template("document"))
def document_page(context, request):
    """A document: its JSON, its owner and the sets holding it."""
    document = context.document
    return page(
        request, f"Document {context.__name__}",
        breadcrumbs=breadcrumbs(request, context),
        document={"id": context.__name__, "json": pretty_json(document.data),
                  "owner": document.owner, "owned": context.owned},
        holders=holder_rows(request, document),
        user=context.user.id,
        tree_generation=context.user.tree.generation,
        delete_url=request.resource_url(context, "@@admin-delete"),
    )


def holder_rows(request, document):
    users = request.root.users
    rows = []
    for gset in document.holders:
        path, s = [], gset
        while s.parent is not None:
            path.append(str(s.id))
            s = s.parent
        path.reverse()
        user = users.get(s.id)
        label = "/".join([str(s.id), *path])
        url = user is not None and request.resource_url(
            user, *path, str(document.id), "@@admin")
        rows.append({"label": label, "url": url})
    return rows


@admin_view(context=DocumentNode, name="admin-delete", request_method="POST")
def document_delete(context, request):
    """Delete as the API does: through its owner's tree the document is
    retracted from every holder; through a holder's tree it is hidden there."""
    document = context.document
    parent = context.__parent__
    before = context.user.tree.generation
    if context.owned:
        document.retract()
        what = "deleted from every tree holding it"
    else:
        document.unplace(parent.tree if isinstance(parent, User) else parent.gset)
        what = f"removed from {context.user.id}'s tree"
    audit(request, f"delete document {context.__name__} of {context.user.id}")
    request.session.flash(
        f"Document {context.__name__} {what}; {context.user.id}'s generation "
        f"{before} → {context.user.tree.generation}.", "info")
    return HTTPSeeOther(location=request.resource_url(parent, "@@admin"))


def includeme(config):
    settings = config.registry.settings
    config.registry.admin_credentials = credentials_from_settings(settings)
    config.registry.login_throttle = throttle_from_settings(settings)
    config.add_view_predicate("admin_page", AdminPagePredicate)
    config.add_static_view("admin-static", "myproject:static",
                           cache_max_age=3600)
