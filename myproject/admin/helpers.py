"""What every admin page shares: the frame, its headers, formatting."""
import datetime
import json
from functools import partial

from pyramid.csrf import get_csrf_token
from pyramid.location import lineage
from pyramid.view import view_config

from ..resources import Site
from ..security import ADMIN_PAGES, admin_login, is_admin_path

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def template(name):
    return f"myproject.admin:templates/{name}.jinja2"


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
        try:
            path = request.path_info
        except UnicodeDecodeError:  # not a page's: the API's JSON 400
            path = ""
        return self.value == is_admin_path(path)


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
        css_url=request.static_url("myproject.admin:static/admin.css"),
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



