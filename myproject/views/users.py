"""The users API (admins): users and their bearer tokens.

``GET /users?start=&limit=``         list users (id order, paginated)
``POST /users {"id": ..., "admin": false}``  create a user; its first
                                     token is in the answer, and only there
``DELETE /users/<id>``               delete a user and its tree
``GET /users/<id>/@@tokens``         the user's tokens (never the secrets)
``POST /users/<id>/@@tokens``        a new token for the user (shown once)
``DELETE /users/<id>/@@tokens/<token id>``  revoke a token
"""
import re

from pyramid.httpexceptions import (
    HTTPConflict,
    HTTPCreated,
    HTTPNotFound,
    HTTPUnprocessableEntity,
)
from pyramid.view import view_config

from ..resources import User, Users, create_user
from ..settings import app_settings
from .wire import json_body, query_parameter, valid_id

MAX_PAGE = 1000
_DIGITS = re.compile(r"[0-9]{1,9}\Z")


def user_summary(request, user):
    return {
        "id": user.id,
        "admin": user.admin,
        "generation": user.tree.generation,
        "url": request.resource_url(user),
    }


def token_summary(token):
    return {
        "id": token.id,
        "label": token.label,
        "created": token.created.isoformat(),
        "last_used": token.last_used and token.last_used.isoformat(),
    }


def _int_param(request, name, default, maximum):
    value = query_parameter(request, name, str(default))
    if not _DIGITS.match(value) or int(value) > maximum:
        raise HTTPUnprocessableEntity(
            f"{name} must be an integer from 0 to {maximum}")
    return int(value)


@view_config(context=Users, request_method="GET", renderer="json",
             permission="admin")
def users_list(context, request):
    """List users in id order, from ``start`` (an id), ``limit`` at most."""
    limit = _int_param(request, "limit", 100, MAX_PAGE)
    start = query_parameter(request, "start") or None
    users, next_start = [], None
    for user in context.values(min=start):
        if len(users) == limit:
            next_start = user.id
            break
        users.append(user_summary(request, user))
    return {"users": users, "count": len(context), "next": next_start}


@view_config(context=Users, request_method="POST", renderer="json",
             permission="admin")
def users_post(context, request):
    """Create a user; answer with its first token (shown only here)."""
    body = json_body(request)
    user_id = valid_id(body.get("id"), "id")
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise HTTPUnprocessableEntity("admin must be true or false")
    if user_id in context:
        raise HTTPConflict(f"user {user_id!r} exists already")
    user = create_user(context, app_settings(request.registry), user_id,
                       admin=admin)
    token = user.new_token("created with the user")
    request.response.status = HTTPCreated.code
    request.response.location = request.resource_url(user)
    return dict(user_summary(request, user), token=token)


@view_config(context=User, request_method="DELETE", renderer="json",
             permission="admin")
def user_delete(context, request):
    """Delete the user, its tree, tokens and devices."""
    context.__parent__.remove(context.id)
    return {"deleted": context.id}


@view_config(context=User, name="tokens", request_method="GET",
             renderer="json", permission="admin")
def tokens_list(context, request):
    """List the user's tokens (ids, labels, dates; never the secrets)."""
    return {"tokens": [token_summary(t) for t in context.tokens.values()]}


@view_config(context=User, name="tokens", request_method="POST",
             renderer="json", permission="admin")
def tokens_post(context, request):
    """Create a token for the user; it is shown only in this answer."""
    label = ""
    if request.body:
        label = json_body(request).get("label", "")
        if not isinstance(label, str) or len(label) > 200:
            raise HTTPUnprocessableEntity("label must be a short string")
    token = context.new_token(label)
    request.response.status = HTTPCreated.code
    return {"token": token, "id": token.partition(".")[0]}


@view_config(context=User, name="tokens", request_method="DELETE",
             renderer="json", permission="admin")
def tokens_delete(context, request):
    """Revoke the token named by the path's last segment."""
    if len(request.subpath) != 1:
        raise HTTPNotFound("revoke with DELETE .../@@tokens/<token id>")
    token_id = request.subpath[0]
    try:
        context.revoke_token(token_id)
    except KeyError:
        raise HTTPNotFound(f"no token {token_id!r}") from None
    return {"revoked": token_id}
