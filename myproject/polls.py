"""The poll path: a user polling its whole tree, the request sent most.

``GET /users/<id>?generation=G`` (or with ``If-None-Match``) by the tree's
owner with a token of this server reads and writes nothing but the answer.
This tween, placed outside pyramid_tm, answers it from a read-only ZODB
connection of its own (a consistent snapshot), without a transaction,
traversal, security policy or view lookup, and with the same function the
view uses (``views.api.poll``), so the answer is the same.  Anything else
(another path, an admin or a JWT, a token whose last use is due to be
recorded, bad input) goes down the normal path.

The setting ``myproject.poll_fast_path = false`` turns it off.
"""
import json

from pyramid.settings import asbool
from webob import Response

from .resources import APP_ROOT_NAME
from .security import bearer_token
from .views.api import poll
from .views.input import GENERATION_HEADER


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
    """Return the answer to the owner's poll of a whole tree, or None."""
    segments = request.path_info.split("/")
    if len(segments) != 3 or segments[1] != "users":
        return None
    token = bearer_token(request)
    if token is None or token.count(".") != 1:
        return None  # anonymous, or a JWT: the normal path decides
    generation = request.GET.get("generation")
    if generation is None:
        generation = request.headers.get(GENERATION_HEADER, "0")
    if not (generation.isdigit() and len(generation) < 19):
        return None  # the normal path explains what is wrong with it
    user_id = segments[2]
    conn = registry._zodb_databases[""].open()
    try:
        site = conn.root().get(APP_ROOT_NAME)
        if site is None or not _owns(site, user_id, token):
            return None
        headers, updates = poll(site.users[user_id].tree, int(generation),
                                request.if_none_match)
        if updates is None:
            response = Response(status=304)
        else:
            response = Response(body=json.dumps(updates).encode("utf-8"),
                                content_type="application/json", charset=None)
    finally:
        conn.close()
    response.headers.update(headers)
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
