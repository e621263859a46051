"""The fast path for up-to-date polls: the request clients send most.

A client with nothing new to fetch asks ``GET /users/<id>?generation=G``
(or sends ``If-None-Match`` with the tree's ETag) and should hear
``{"generation": G}`` (or ``304``) as cheaply as possible.  This tween,
placed outside pyramid_tm, answers exactly that case from a read-only
ZODB connection of its own, without a transaction, traversal or view
lookup; anything else (another path, a stale generation, an admin, a JWT,
a token whose last use is due to be recorded, bad input) goes down the
normal path, which answers the same request the same way, only slower.

The setting ``myproject.poll_fast_path = false`` turns it off.
"""
import json

from pyramid.settings import asbool
from webob import Response

from .resources import APP_ROOT_NAME
from .security import bearer_token
from .views.input import GENERATION_HEADER

CACHE_CONTROL = "private, no-cache"


def poll_fast_path_tween_factory(handler, registry):
    if not asbool(registry.settings.get("myproject.poll_fast_path", True)):
        return handler

    def poll_fast_path_tween(request):
        if request.method == "GET":
            response = _answer(request, registry)
            if response is not None:
                return response
        return handler(request)

    return poll_fast_path_tween


def _answer(request, registry):
    """Return the answer to an up-to-date poll of a whole tree, or None."""
    segments = request.path_info.split("/")
    if len(segments) != 3 or segments[1] != "users":
        return None
    token = bearer_token(request)
    if token is None or token.count(".") != 1:
        return None  # anonymous, or a JWT: the normal path decides
    generation = request.GET.get("generation")
    if generation is None:
        generation = request.headers.get(GENERATION_HEADER)
    if generation is not None and not (generation.isdigit()
                                       and len(generation) < 19):
        return None  # the normal path explains what is wrong with it
    if generation is None and not request.if_none_match:
        return None
    user_id = segments[2]
    db = registry._zodb_databases[""]
    conn = db.open()
    try:
        site = conn.root().get(APP_ROOT_NAME)
        if site is None or not _owns(site, user_id, token):
            return None
        current = site.users[user_id].tree.generation
    finally:
        conn.close()
    etag = str(current)
    if etag in request.if_none_match:
        response = Response(status=304)
    elif generation is not None and int(generation) == current:
        response = Response(
            body=json.dumps({"generation": current}).encode("ascii"),
            content_type="application/json", charset=None)
    else:
        return None
    response.headers["ETag"] = f'"{etag}"'
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _owns(site, user_id, token):
    """Is token a valid token of user_id that needs no write to use?"""
    token_id, _, secret = token.partition(".")
    if site.tokens.get(token_id) != user_id:
        return False
    user = site.users.get(user_id)
    stored = user.tokens.get(token_id) if user is not None else None
    return (stored is not None and not stored.due_for_use()
            and stored.matches(secret))


def includeme(config):
    config.add_tween("myproject.polls.poll_fast_path_tween_factory",
                     over="myproject.tweens.tree_lock_tween_factory")
