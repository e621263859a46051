"""The API's wire: reading what a request sends, writing what it gets back.

Every bad input raises an HTTP exception here, before anything changes;
``errors.py`` renders it as ``{"error": ..., "detail": ...}`` and pyramid_tm
aborts the transaction.  Answers are JSON (the views' ``renderer="json"``);
``answer`` adds what changed in the user's tree since the client's
generation to the answer of a write.
"""
import json
import math
import re

from pyramid.httpexceptions import (
    HTTPBadRequest,
    HTTPRequestEntityTooLarge,
    HTTPUnprocessableEntity,
    HTTPUnsupportedMediaType,
)

from .. import sync
from ..metrics import note_poll
from ..resources import check_id, is_text
from ..settings import app_settings

GENERATION_HEADER = "X-Generation"
MAX_DEPTH = 64  # of objects and lists in a document
MAX_SET_DEPTH = 32  # of sets in a tree: /users/<id>/1/2/.../32
_DIGITS = re.compile(r"[0-9]+")
MAX_GENERATION_DIGITS = 18  # generations are 64-bit BTree keys
MAX_WAIT = 30  # seconds a live poll may be held (docs/webapps.txt)


def client_generation(request):
    """Return the generation the client holds, or None if it sent none.

    Read from the ``generation`` query parameter, else the ``X-Generation``
    header.  Raises HTTPBadRequest unless it is a non-negative integer.
    """
    value = query_parameter(request, "generation")
    if value is None:
        value = request.headers.get(GENERATION_HEADER)
        if value is None:
            return None
    if (not _DIGITS.fullmatch(value)
            or len(value.lstrip("0")) > MAX_GENERATION_DIGITS):
        raise HTTPBadRequest(
            "generation must be a non-negative integer of at most "
            f"{MAX_GENERATION_DIGITS} digits, got {value[:40]!r}")
    return int(value)


def client_limit(request):
    """Return the page size the client asked for (query ``limit``), or
    ``myproject.sync.page_size``; HTTPBadRequest unless it is an integer
    from 1 to ``myproject.sync.max_page_size``."""
    settings = app_settings(request.registry)
    value = query_parameter(request, "limit")
    if value is None:
        return settings.sync_page_size
    largest = settings.sync_max_page_size
    digits = value.lstrip("0")  # (int() refuses over 4300 digits)
    if not _DIGITS.fullmatch(value) or not digits:
        raise HTTPBadRequest(
            "limit must be a positive integer, got %r" % value[:40])
    if len(digits) > len(str(largest)) or int(digits) > largest:
        raise HTTPBadRequest(
            f"limit must be at most {largest} (the server's largest page), "
            f"got {value[:40]}")
    return int(value)


def client_wait(request):
    """Return the seconds the client asked to wait (query ``wait``), or
    None; HTTPBadRequest unless it is an integer from 1 to MAX_WAIT."""
    value = query_parameter(request, "wait")
    if value is None:
        return None
    if (not _DIGITS.fullmatch(value) or len(value.lstrip("0")) > 2
            or not 1 <= int(value) <= MAX_WAIT):
        raise HTTPBadRequest(
            f"wait must be a whole number of seconds from 1 to {MAX_WAIT}, "
            f"got {value[:40]!r}")
    return int(value)


def check_query(request):
    """Return (generation, limit) of the request; raise HTTPBadRequest for
    a bad ``generation``, ``limit`` or ``wait``, wherever the request sends
    one (after its credentials are checked: the callers are views and the
    poll's shortcut)."""
    generation, limit = client_generation(request), client_limit(request)
    client_wait(request)
    return generation, limit


def query_parameter(request, name, default=None):
    """Return a query parameter; HTTPBadRequest if the query is not UTF-8
    or names the parameter twice (which one would be meant?)."""
    try:
        values = request.GET.getall(name)
    except UnicodeDecodeError:
        raise HTTPBadRequest("the query string is not UTF-8") from None
    if len(values) > 1:
        raise HTTPBadRequest(f"{name} is given {len(values)} times")
    return values[0] if values else default


def json_body(request):
    """Return the request's JSON object body; raise 413, 415, 400 or 422."""
    limit = app_settings(request.registry).max_body_size
    if request.content_length is not None and request.content_length > limit:
        raise HTTPRequestEntityTooLarge(
            f"the body is larger than {limit} bytes")
    if request.content_type != "application/json":
        raise HTTPUnsupportedMediaType(
            "send JSON with Content-Type: application/json")
    # request.body, not body_file: pyramid_retry replays the same body on
    # a retried attempt, and only request.body rewinds it.
    body = request.body
    if len(body) > limit:
        raise HTTPRequestEntityTooLarge(
            f"the body is larger than {limit} bytes")
    try:
        value = json.loads(body.decode(request.charset or "utf-8"),
                           parse_constant=_refuse_constant,
                           parse_float=_finite_float)
    except RecursionError:  # valid JSON too deep to parse: too deep anyway
        raise HTTPUnprocessableEntity(
            f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, LookupError, ValueError) as e:
        raise HTTPBadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise HTTPUnprocessableEntity("the body must be a JSON object")
    depth, text = _depth_and_text(value)
    if not text:
        raise HTTPBadRequest(
            "the body has a string with a lone surrogate (\\ud800-\\udfff "
            "unpaired), which is not Unicode text")
    if depth > MAX_DEPTH:
        raise HTTPUnprocessableEntity(
            f"the body is nested more than {MAX_DEPTH} levels deep")
    return value


def _refuse_constant(name):
    # NaN and Infinity are not JSON: strict clients could not read them back.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(literal):
    # 1e999 is valid JSON, but Python reads it as inf, which is not.
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:40]} is not a finite number")
    return value


def _depth_and_text(value):
    """Return how deeply value's lists and objects nest, and whether all
    its strings (keys too) are Unicode text; iteratively."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not is_text(value):
                return deepest, False
            continue
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((item, depth + 1) for item in value)
    return deepest, True


def valid_id(value, what="id"):
    """Return value if it is a usable id; raise HTTPUnprocessableEntity."""
    try:
        return check_id(value, what)
    except ValueError as e:
        raise HTTPUnprocessableEntity(str(e)) from None


def answer(request, user, body, status=None):
    """Return body with ``updates`` of user's tree since the client's
    generation, when the request carried one."""
    generation, limit = check_query(request)
    if generation is not None:
        body["updates"] = sync.updates(user.tree, generation, limit=limit)
    if status is not None:
        request.response.status = status
    return body


def poll_of(request, gset):
    """Return (headers, JSON updates or None for 304) of the request's poll
    of gset: its generation, limit and If-None-Match, counted in metrics.
    The set view and the poll's shortcut both answer with it."""
    generation, limit = check_query(request)
    headers, updates = sync.poll(gset, generation or 0,
                                 request.if_none_match, limit=limit)
    note_poll(request, updates)
    return headers, updates
