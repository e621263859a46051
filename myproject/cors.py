"""CORS: web apps served from other origins may call the API.

``myproject.cors.origins`` lists the origins allowed (empty, the default:
CORS is off and this tween is not installed).  For a request whose
``Origin`` is listed:

- a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is
  answered here, ``204``, with the API's methods and request headers
  (``Authorization``, ``Content-Type``, ``If-None-Match``, ``X-Generation``)
  and ``Access-Control-Max-Age`` (``myproject.cors.max_age``);
- every other answer, errors and the poll's shortcut included, gets
  ``Access-Control-Allow-Origin`` (that origin, never ``*``) and exposes
  ``ETag`` and ``Location``.

Credentials (cookies) are never allowed: the API's clients send bearer
tokens.  An origin not listed gets no CORS header, so the browser keeps
the answer from the page.  The admin pages (any path segment starting
with ``@@admin``) never get CORS: they are for the server's own origin.
Answers that depend on ``Origin`` say so with ``Vary: Origin``.

The tween is the outermost of the app's (views/__init__.py), above the
exception views, so it sees every response the pipeline makes.
"""
from pyramid.response import Response

from .settings import app_settings

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match, X-Generation"
EXPOSED_HEADERS = "ETag, Location, X-Tree-Generation"


def is_admin_path(path):
    """Is path one of the admin pages (a segment starting with @@admin)?"""
    return any(segment.startswith("@@admin") for segment in path.split("/"))


def cors_tween_factory(handler, registry):
    settings = app_settings(registry)
    origins = frozenset(settings.cors_origins)
    if not origins:
        return handler
    max_age = str(settings.cors_max_age)

    def cors_tween(request):
        origin = request.headers.get("Origin")
        if origin is None or is_admin_path(request.path_info):
            return handler(request)
        allowed = origin.lower() in origins
        if (allowed and request.method == "OPTIONS"
                and "Access-Control-Request-Method" in request.headers):
            response = Response(status=204, headers={
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": max_age,
            })
        else:
            response = handler(request)
        _vary_on_origin(response)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    return cors_tween


def _vary_on_origin(response):
    vary = response.vary or ()
    if "Origin" not in vary:
        response.vary = (*vary, "Origin")
