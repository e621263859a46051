"""Reading requests and writing updates: the API's input and JSON form.

Every bad input raises an HTTP exception here, before anything changes;
``errors.py`` renders it as ``{"error": ..., "detail": ...}`` and pyramid_tm
aborts the transaction.
"""
import json
import re

from pyramid.httpexceptions import (
    HTTPBadRequest,
    HTTPRequestEntityTooLarge,
    HTTPUnprocessableEntity,
    HTTPUnsupportedMediaType,
)

from ..generationalset import GSet
from ..resources import check_id

GENERATION_HEADER = "X-Generation"
_DIGITS = re.compile(r"[0-9]{1,18}\Z")


def client_generation(request):
    """Return the generation the client holds, or None if it sent none.

    Read from the ``generation`` query parameter, else the ``X-Generation``
    header.  Raises HTTPBadRequest unless it is a non-negative integer.
    """
    value = request.GET.get("generation")
    if value is None:
        value = request.headers.get(GENERATION_HEADER)
        if value is None:
            return None
    if not _DIGITS.match(value.strip()):
        raise HTTPBadRequest(
            "generation must be a non-negative integer, got %r" % value[:40])
    return int(value)


def json_body(request):
    """Return the request's JSON object body; raise 413, 415, 400 or 422."""
    limit = request.registry.settings["myproject.max_body_size"]
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
        value = json.loads(body.decode(request.charset or "utf-8"))
    except (UnicodeDecodeError, LookupError, ValueError) as e:
        raise HTTPBadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise HTTPUnprocessableEntity("the body must be a JSON object")
    return value


def valid_id(value, what="id"):
    """Return value if it is a usable id; raise HTTPUnprocessableEntity."""
    try:
        return check_id(value, what)
    except ValueError as e:
        raise HTTPUnprocessableEntity(str(e)) from None


def to_json(updates):
    """Return updates in the API's JSON form.

    Documents become their JSON object (which always has ``"id"``); a
    member set ``{'id': ID, ...}`` becomes ``{"set": ID, ...}``.
    """
    result = {}
    for key, value in updates.items():
        if key == "id":
            result["set"] = value
        elif key in ("adds", "contents"):
            result[key] = [
                to_json(entry) if isinstance(entry, dict) else entry.data
                for entry in value]
        else:
            result[key] = value
    return result


def updates_since(request, user, generation):
    """Return the JSON updates of user's tree since generation."""
    return to_json(user.tree.generational_updates(generation))


def is_set(ob):
    return isinstance(ob, GSet)
