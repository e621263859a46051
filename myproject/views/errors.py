"""Errors as JSON: ``{"error": ..., "detail": ...}`` with the right status.

Views raise (never return) error responses, so pyramid_tm aborts the
transaction: a failed request commits nothing.  Pyramid's exception view
tween sits under pyramid_tm; ``outer_excview_tween_factory`` puts the same
tween at the top too, so that what fails above it (authentication, which
pyramid_tm asks for first, a tree lock, the poll's shortcut) gets these
views as well, never the server's plain 500.  Above that tween,
``last_resort_tween_factory`` answers a JSON 500 should an exception view
itself fail, so no exception reaches waitress (whose log line would name
the raw path).  Under it, ``path_check_tween_factory`` refuses a path that
is not UTF-8 (``/users/%FF``, an encoded surrogate) with a 400 before
anything reads ``request.path_info``.  Conflicts that outlast their
retries are answered 503 by ``myproject.retry``.

Paths in log lines and answers go through ``shown_path``: decoded with
replacement characters, tokens redacted (``myproject.redact``).
"""
import json
import logging
import re

from pyramid.exceptions import PredicateMismatch
from pyramid.httpexceptions import (
    HTTPBadRequest,
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPNotFound,
    HTTPUnauthorized,
)
from pyramid.response import Response
from pyramid.tweens import excview_tween_factory
from pyramid.view import (
    exception_view_config,
    forbidden_view_config,
    notfound_view_config,
)

from ..redact import redact
from ..resources import DocumentNode, SetNode, Site, User, Users
from ..security import bearer_token

log = logging.getLogger(__name__)

_METHODS = {
    Site: "GET",
    Users: "GET, POST",
    User: "GET, POST, DELETE",
    SetNode: "GET, POST, DELETE",
    DocumentNode: "GET, PUT, PATCH, DELETE",
}


def error_name(exc):
    """Return a stable machine-readable name: 'Not Found' -> 'not_found'."""
    return re.sub(r"[^a-z0-9]+", "_", exc.title.lower()).strip("_")


def json_error(request, exc, detail=None):
    response = request.response
    response.status = exc.status
    for name in ("Allow", "WWW-Authenticate", "Retry-After", "Location"):
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return {"error": error_name(exc),
            "detail": detail or exc.detail or exc.explanation}


@exception_view_config(HTTPException, renderer="json")
def http_error(exc, request):
    if exc.status_code < 400:
        return exc
    return json_error(request, exc)


@notfound_view_config(renderer="json")
def not_found(exc, request):
    if isinstance(exc, PredicateMismatch) and request.view_name == "":
        allowed = _METHODS.get(type(request.context))
        if allowed is not None:
            return json_error(
                request,
                HTTPMethodNotAllowed(headers={"Allow": allowed}),
                f"{request.method} is not allowed here; allowed: {allowed}")
    return json_error(request, HTTPNotFound(),
                      f"nothing at {shown_path(request)}")


NO_CREDENTIALS = "send Authorization: Bearer <token>"
TOKEN_REJECTED = "the token was not accepted"
NOT_ALLOWED = "not allowed here"


@forbidden_view_config(renderer="json")
def forbidden(exc, request):
    """401 without valid credentials (saying whether a token was sent, never
    why it failed), else 403.  A refusal of Pyramid's own (a view's
    permission, which sets ``exc.result``) gets the plain message; the
    app's own refusals say what is not allowed."""
    if request.authenticated_userid is None:
        return json_error(
            request,
            HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="myproject"'}),
            NO_CREDENTIALS if bearer_token(request) is None
            else TOKEN_REJECTED)
    own = (getattr(exc, "result", None) is None
           and isinstance(exc.detail, str) and exc.detail)
    return json_error(request, HTTPForbidden(),
                      exc.detail if own else NOT_ALLOWED)


@exception_view_config(UnicodeDecodeError, renderer="json")
def not_utf8(exc, request):
    # WebOb decodes the query string and form bodies as UTF-8 when a view
    # first reads them.
    log.info("%s %s: undecodable request: %s", request.method,
             shown_path(request), exc.reason)
    return json_error(request, HTTPBadRequest(),
                      "the query string or form is not UTF-8")


SERVER_ERROR = {"error": "internal_server_error",
                "detail": "the server failed; nothing was saved"}


@exception_view_config(Exception, renderer="json")
def server_error(exc, request):
    log.exception("unexpected error in %s %s", request.method,
                  shown_path(request))
    request.response.status = 500
    return dict(SERVER_ERROR)


def shown_path(request):
    """Return the request's path as log lines and answers may show it."""
    raw = request.environ.get("PATH_INFO", "")
    return redact(raw.encode("latin-1", "replace").decode("utf-8", "replace"))


def outer_excview_tween_factory(handler, registry):
    """Pyramid's exception view tween, for the tweens above pyramid_tm."""
    return excview_tween_factory(handler, registry)


def last_resort_tween_factory(handler, registry):
    """Answer a JSON 500 for an exception the exception views let through."""

    def last_resort_tween(request):
        try:
            return handler(request)
        except Exception:
            log.exception("unanswered error in %s %s", request.method,
                          shown_path(request))
            body = json.dumps(SERVER_ERROR).encode("utf-8")
            return Response(body=body, status=500,
                            content_type="application/json", charset=None)

    return last_resort_tween


def path_check_tween_factory(handler, registry):
    """Refuse a path that is not UTF-8 (surrogates included) with a 400."""

    def path_check_tween(request):
        try:
            request.path_info
        except UnicodeDecodeError:
            raise HTTPBadRequest("the path is not UTF-8") from None
        return handler(request)

    return path_check_tween
