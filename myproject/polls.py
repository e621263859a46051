"""The poll path: a user polling its whole tree, the request sent most.

``GET /users/<id>?generation=G`` (optionally with ``If-None-Match``) by the
tree's owner with a token of this server reads and writes nothing but the
answer.  This WSGI layer, wrapped around the Pyramid application by
``main``, answers it from a read-only ZODB connection of its own (a
consistent snapshot), without a transaction, request object, traversal,
security policy or view lookup, and with the function the view itself
uses (``views.api.poll``), so the answer is the same.  Anything else (other
paths or query parameters, an admin or a JWT, a token whose last use is
due to be recorded, input the normal path has to explain) goes to Pyramid.

The setting ``myproject.poll_fast_path = false`` turns it off.
"""
import json
import re

from pyramid.settings import asbool

from .resources import APP_ROOT_NAME
from .security import parse_bearer
from .views.api import poll

_QUERY = re.compile(r"(?:generation=([0-9]{1,18}))?\Z")
_GENERATION = re.compile(r"[0-9]{1,18}\Z")
_ETAG = re.compile(r'"[0-9]+"\Z')


class PollFastPath:
    """WSGI middleware answering the owner's polls of a whole tree."""

    def __init__(self, app):
        self.app = app
        self.registry = app.registry
        self.db = app.registry._zodb_databases[""]

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "GET":
            answer = self.answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.app(environ, start_response)

    def answer(self, environ):
        """Return (status, headers, body) for a poll it can answer, or None."""
        segments = environ.get("PATH_INFO", "").split("/")
        if len(segments) != 3 or segments[1] != "users":
            return None
        query = _QUERY.match(environ.get("QUERY_STRING", ""))
        token = parse_bearer(environ.get("HTTP_AUTHORIZATION", ""))
        if query is None or token is None or token.count(".") != 1:
            return None  # other parameters, anonymous, a JWT
        generation = query.group(1)
        if generation is None:
            generation = environ.get("HTTP_X_GENERATION", "0")
            if not _GENERATION.match(generation):
                return None  # the normal path explains what is wrong
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None and not _ETAG.match(if_none_match):
            return None  # weak, several or * ETags: leave them to WebOb
        try:
            user_id = segments[2].encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        conn = self.db.open()
        try:
            site = conn.root().get(APP_ROOT_NAME)
            if site is None or not _owns(site, user_id, token):
                return None
            headers, updates = poll(
                site.users[user_id].tree, int(generation),
                (if_none_match[1:-1],) if if_none_match else ())
            body = None if updates is None else json.dumps(updates)
        finally:
            conn.close()
        headers = list(headers.items())
        if body is None:
            return "304 Not Modified", headers, b""
        body = body.encode("utf-8")
        headers += [("Content-Type", "application/json"),
                    ("Content-Length", str(len(body)))]
        return "200 OK", headers, body


def _owns(site, user_id, token):
    """Is token a valid token of user_id that needs no write to use?"""
    token_id, _, secret = token.partition(".")
    if site.tokens.get(token_id) != user_id:
        return False
    user = site.users.get(user_id)
    stored = user.tokens.get(token_id) if user is not None else None
    return (stored is not None and not stored.due_for_use()
            and stored.matches(secret))


def wrap(app):
    """Return app with the poll fast path in front, unless turned off."""
    settings = app.registry.settings
    if not asbool(settings.get("myproject.poll_fast_path", True)):
        return app
    return PollFastPath(app)
