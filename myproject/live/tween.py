"""The held poll in the request pipeline: which requests, and holding them.

A ``GET /users/<id>`` with a ``wait`` query parameter (an integer from 1
to ``wire.MAX_WAIT``; anything else is a 400, answered after the
credentials are checked) is a live poll.  It goes through
the rest of the pipeline as any poll (the poll's shortcut, or traversal
and the set view, with their authentication and ACL); ``If-None-Match``
is ignored (a live poll is held, never told 304).  Its answer is "up to
date" when it is a 200 whose ETag is the client's own generation: there
is nothing to apply yet.  Only such an answer is held:

- with ``myproject.live.grip``: the answer goes out at once with GRIP hold
  instructions (``grip.hold``), and Pushpin holds it;
- otherwise: a ``Waiter`` of ``waiters.py`` is entered *before* the first
  answer is made (so a commit between that answer and the wait still
  wakes it), the thread waits, outside any transaction, until the tree
  passes the generation or the wait runs out, and the request goes through
  the pipeline again for the answer it then gets.  When ``max_waiting``
  polls are held already the first answer is the one sent.
"""
from pyramid.httpexceptions import HTTPBadRequest

from ..views.poll import polls_a_tree
from ..views.wire import client_generation, client_wait
from . import live_service
from .grip import hold


def is_up_to_date(response, generation):
    """Does response tell a client at generation that nothing changed?"""
    return (response.status_code == 200
            and response.headers.get("ETag") == f'"{generation}"')


def live_tween_factory(handler, registry):
    service = live_service(registry)

    def live_tween(request):
        if (request.method != "GET" or not polls_a_tree(request)
                or "wait" not in request.query_string):
            return handler(request)
        try:
            wait = client_wait(request)
            generation = client_generation(request) or 0
        except HTTPBadRequest:
            # Answered by the poll itself, after the credentials: a 401
            # or 403 first, as for any other bad query.
            return handler(request)
        if wait is None:
            return handler(request)
        user_id = request.path_info[len("/users/"):]
        request.headers.pop("If-None-Match", None)
        if service.waiters is None:
            response = handler(request)
            if is_up_to_date(response, generation):
                hold(response, user_id, generation, wait)
            return response
        waiter = service.waiters.enter(user_id, generation)
        if waiter is None:
            return handler(request)
        try:
            response = handler(request)
            if not is_up_to_date(response, generation):
                return response
            waiter.wait(wait)
            request.__dict__.pop("response", None)  # a new one, please
            return handler(request)
        finally:
            service.waiters.leave(waiter)

    return live_tween
