"""Logging in to the admin pages: credentials, the throttle, the session.

Also the pages' HTML errors: a GET without the login goes to the login
form, anything else refused gets an HTML page (the API's stay JSON).
"""
import hmac
import logging
from urllib.parse import urlencode

from pyramid.csrf import new_csrf_token
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.security import forget, remember
from pyramid.view import (
    exception_view_config,
    forbidden_view_config,
    notfound_view_config,
    view_config,
)

from ..passwords import verify_password
from ..redact import short_hash
from ..resources import Site
from ..security import admin_login
from .helpers import is_admin_path, page, page_headers, template
from .throttle import LoginThrottle

log = logging.getLogger(__name__)


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
    """Return AdminCredentials, or None when admin login is not configured
    (settings are parsed: the hash is known to be well formed)."""
    if not settings.admin_username or not settings.admin_password_hash:
        return None
    return AdminCredentials(settings.admin_username,
                            settings.admin_password_hash)


def throttle_from_settings(settings):
    """Return the LoginThrottle the login settings ask for."""
    return LoginThrottle(attempts=settings.admin_login_attempts,
                         window=settings.admin_login_window)


def _local_path(value):
    """Return value if it is a path on this site (no open redirects), else
    None.  It goes into a Location header: printable ASCII only (a CR or LF
    would end the header, and WebOb refuses it)."""
    if (isinstance(value, str) and value.startswith("/")
            and value.isascii() and value.isprintable() and " " not in value
            and not value.startswith("//") and "\\" not in value
            and is_admin_path(value.split("?", 1)[0])):
        return value
    return None


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
            # The name's hash, not the name: it may be a mistyped password.
            log.warning("failed admin login as name #%s from %s",
                        short_hash(username), address)
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


