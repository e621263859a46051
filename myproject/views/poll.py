"""The poll's shortcut: a user's GET of its whole tree, without traversal.

``GET /users/<id>`` (with ``generation``, ``X-Generation``,
``If-None-Match``) is the request clients send most.  This tween, at the
top of the app's tweens, answers it as traversal and the set view would,
with the same code for what decides the answer:

- the ``User`` is the one traversal reaches (``Site`` -> ``users`` -> the
  id), with the same ``__parent__`` chain and ``__acl__``;
- ``request.has_permission("view", user)`` is the security policy's
  ``permits``, the call Pyramid makes for the view's ``permission="view"``
  (and so authentication is the policy's ``identity``);
- ``wire.poll_of`` (``sync.poll``) answers, as for the set view, and is
  serialized as the view's JSON renderer does (``json.dumps``,
  ``Content-Type: application/json``);
- an exception goes to the app's exception views (a JSON 500, a 503 after
  retried conflicts) through the exception view tween above it
  (``errors.outer_excview_tween_factory``), as every request's does.

It reads on a connection of its own, one transaction of ``request.tm``
(committed: using a token may record its use), without pyramid_tm's and
pyramid_zodbconn's per-request work, which would cost more than the poll.
A request it does not answer (another method or path, a user it does not
find, one the policy refuses) goes on to traversal and the views with the
identity forgotten, which then find, refuse or explain it as for every
request.  ``myproject.poll_fast_path = false`` leaves every poll to them.
"""
import json
import sys

from pyramid.httpexceptions import HTTPNotModified
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid_tm import maybe_tag_retryable

from ..resources import APP_ROOT_NAME, serve_site, zodb_database
from ..settings import app_settings
from .wire import poll_of

_PREFIX = "/users/"


def poll_tween_factory(handler, registry):
    if not app_settings(registry).poll_fast_path:
        return handler
    db = zodb_database(registry)
    policy = registry.getUtility(ISecurityPolicy)
    def connection(tm):
        """Return a connection for one poll, in a new transaction: beginning
        it brings the connection up to date with the storage (on ZEO with
        ``server-sync``, with other processes' commits)."""
        conn = db.open(transaction_manager=tm)
        tm.begin()
        return conn

    def answer(request):
        """Return the poll's response, or None to leave it to traversal."""
        tm = request.tm
        conn = connection(tm)
        try:
            site = conn.root().get(APP_ROOT_NAME)
            user = None if site is None else site.users.get(
                request.path_info[len(_PREFIX):])
            if user is not None:
                serve_site(request, site)
                if request.has_permission("view", user):
                    response = _poll(request, user)
                    txn = tm.get()
                    txn.user = user.id
                    txn.note(request.path_info)
                    tm.commit()
                    return response
            tm.abort()  # as the refused request will be, there
            serve_site(request, None)
            policy.reset(request)
            return None
        except Exception:
            maybe_tag_retryable(request, sys.exc_info())
            tm.abort()
            raise
        finally:
            conn.close()

    def poll_tween(request):
        if request.method == "GET" and polls_a_tree(request):
            response = answer(request)
            if response is not None:
                return response
        return handler(request)

    return poll_tween


def polls_a_tree(request):
    """Does the path name a user's whole tree in the plain form?  Other
    forms ("", ".", "..", "@@" segments, undecodable) are traversal's."""
    try:
        path = request.path_info
    except UnicodeDecodeError:
        return False
    if not path.startswith(_PREFIX):
        return False
    user_id = path[len(_PREFIX):]
    return not (not user_id or "/" in user_id or user_id in (".", "..")
                or user_id.startswith("@@"))


def _poll(request, user):
    headers, updates = poll_of(request, user.tree)
    if updates is None:
        return HTTPNotModified(headers=headers)
    body = json.dumps(updates).encode("utf-8")
    return Response(app_iter=[body], headerlist=[
        *headers.items(), ("Content-Type", "application/json"),
        ("Content-Length", str(len(body)))])

