"""Push devices of the authenticated user (outside the synced tree).

``GET /users/<id>/@@devices``                 the user's devices
``POST /users/<id>/@@devices``                register
    ``{"platform": "apns"|"fcm", "token": ..., "environment": ...}``
    (``environment``: ``production`` (default) or ``sandbox``, APNs only:
    ``push.sender.PLATFORMS`` and ``ENVIRONMENTS``);
    a token registered by another user moves to this one
``DELETE /users/<id>/@@devices/<token>``      unregister

Devices per user: at most ``myproject.push.max_devices``.

``GET /@@push`` (admins): the push dispatcher's senders and counters
(sent, failed, retried, pruned, dropped, queue_depth).
"""
import re

from pyramid.httpexceptions import (
    HTTPConflict,
    HTTPCreated,
    HTTPNotFound,
    HTTPUnprocessableEntity,
)
from pyramid.view import view_config

from ..push.sender import ENVIRONMENTS, PLATFORMS, token_hash
from ..resources import Site, User
from ..settings import app_settings
from .wire import json_body

MAX_TOKEN_LENGTH = 512
# APNs tokens are hex, FCM's letters, digits, "_", "-" and ":".  Nothing
# else: a token is a path segment of DELETE (no "/", ".", "..") and a
# secret that log lines redact up to the first character outside these.
TOKEN = re.compile(r"[A-Za-z0-9_:-]{1,%d}" % MAX_TOKEN_LENGTH)


def device_summary(record):
    return {
        "platform": record.platform,
        "token": record.token,
        "environment": record.environment,
        "created": record.created.isoformat(),
    }


@view_config(context=User, name="devices", request_method="GET",
             renderer="json", permission="edit")
def devices_list(context, request):
    """List the user's push devices."""
    return {"devices": [device_summary(d) for d in context.devices.values()]}


@view_config(context=User, name="devices", request_method="POST",
             renderer="json", permission="edit")
def devices_post(context, request):
    """Register (or move here) a push token."""
    body = json_body(request)
    platform = body.get("platform")
    token = body.get("token")
    environment = body.get("environment", ENVIRONMENTS[0])
    if platform not in PLATFORMS:
        raise HTTPUnprocessableEntity(
            f"platform must be {' or '.join(map(repr, PLATFORMS))}")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise HTTPUnprocessableEntity(
            f"token must be 1 to {MAX_TOKEN_LENGTH} letters, digits, '_', "
            "'-' or ':' (as APNs and FCM tokens are)")
    if platform != "apns" and environment != ENVIRONMENTS[0]:
        raise HTTPUnprocessableEntity("environment is for apns tokens only "
                                      "(an fcm token's is production)")
    if environment not in ENVIRONMENTS:
        raise HTTPUnprocessableEntity(
            f"environment must be {' or '.join(map(repr, ENVIRONMENTS))}")
    limit = app_settings(request.registry).push_max_devices
    if token not in context.devices and len(context.devices) >= limit:
        raise HTTPConflict(
            f"at most {limit} devices per user: unregister one first")
    record = request.root.register_device(context, platform, token,
                                          environment)
    request.response.status = HTTPCreated.code
    return {"device": device_summary(record)}


@view_config(context=User, name="devices", request_method="DELETE",
             renderer="json", permission="edit")
def devices_delete(context, request):
    """Unregister the push token named by the last path segment."""
    if len(request.subpath) != 1:
        raise HTTPNotFound("unregister with DELETE .../@@devices/<token>")
    try:
        request.root.unregister_device(context, request.subpath[0])
    except KeyError:
        raise HTTPNotFound("no such device") from None
    return {"unregistered": token_hash(request.subpath[0])}


@view_config(context=Site, name="push", request_method="GET",
             renderer="json", permission="admin")
def push_status(context, request):
    """Admins: the push dispatcher's counters and senders, as JSON."""
    dispatcher = getattr(request.registry, "push_dispatcher", None)
    if dispatcher is None:
        return {"configured": False}
    return {
        "configured": True,
        "senders": {platform: getattr(sender, "name", str(sender))
                    for platform, sender in dispatcher.senders.items()},
        "stats": dispatcher.stats(),
    }
