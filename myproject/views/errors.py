"""Errors as JSON: ``{"error": ..., "detail": ...}`` with the right status.

Views raise (never return) error responses, so pyramid_tm aborts the
transaction: a failed request commits nothing.  Pyramid's exception view
tween sits under pyramid_tm; ``outer_excview_tween_factory`` puts the same
tween at the top too, so that what fails above it (authentication, which
pyramid_tm asks for first, a tree lock, the poll's shortcut) gets these
views as well, never the server's plain 500.  Conflicts that outlast
their retries are answered 503 by ``myproject.retry``.
"""
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
from pyramid.tweens import excview_tween_factory
from pyramid.view import (
    exception_view_config,
    forbidden_view_config,
    notfound_view_config,
)

from ..resources import DocumentNode, SetNode, Site, User, Users

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
                      f"nothing at {request.path_info}")


@forbidden_view_config(renderer="json")
def forbidden(exc, request):
    if request.authenticated_userid is None:
        return json_error(
            request,
            HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="myproject"'}),
            "send Authorization: Bearer <token>")
    return json_error(request, HTTPForbidden(),
                      exc.detail if isinstance(exc.detail, str) and exc.detail
                      else "not allowed here")


@exception_view_config(UnicodeDecodeError, renderer="json")
def not_utf8(exc, request):
    # WebOb decodes the query string and form bodies as UTF-8 when a view
    # first reads them.
    log.info("%s %s: undecodable request: %s", request.method, request.path,
             exc)
    return json_error(request, HTTPBadRequest(),
                      "the query string or form is not UTF-8")


@exception_view_config(Exception, renderer="json")
def server_error(exc, request):
    log.exception("unexpected error in %s %s", request.method, request.path)
    request.response.status = 500
    return {"error": "internal_server_error",
            "detail": "the server failed; nothing was saved"}


def outer_excview_tween_factory(handler, registry):
    """Pyramid's exception view tween, for the tweens above pyramid_tm."""
    return excview_tween_factory(handler, registry)
