"""Silent "poll now" pushes to users' devices, sent from a background thread.

The app builds one dispatcher per process with ``build_dispatcher``, starts
it with the app, calls ``submit(user_id, generation, devices)`` after each
successful commit and ``stop()`` at shutdown.  Nothing here touches ZODB:
dead tokens are handed to the app's ``prune(user_id, device)`` callable.

Settings: the ``myproject.push.*`` keys of ``myproject.settings`` (types,
defaults and meanings are in its table, docs/settings.txt), parsed there;
``build_dispatcher`` gets the parsed ``Settings``.  ``senders`` lists the
senders to use: ``apns``, ``fcm``, ``log``; ``log`` only logs what would
be sent (never a token, only its ``token_hash``) and serves every platform
no other listed sender serves.

The app's side (after a commit, tell the changed users' devices; prune
dead tokens) is ``wiring.py``: ``main`` includes it.
"""
from pyramid.exceptions import ConfigurationError

from . import apns, fcm
from .dispatcher import Dispatcher
from .log import LogSender
from .sender import (
    ENVIRONMENTS, PLATFORMS, Device, ISender, Outcome, Result)

__all__ = [
    "Device", "Dispatcher", "ENVIRONMENTS", "ISender", "Outcome", "PLATFORMS",
    "Result", "build_dispatcher",
]

#: Platform -> factory building its sender from the settings.
SENDER_FACTORIES = {
    "apns": apns.sender_from_settings,
    "fcm": fcm.sender_from_settings,
}
assert tuple(SENDER_FACTORIES) == PLATFORMS


def build_dispatcher(settings, *, prune=None):
    """Return a ``Dispatcher`` (not started) for the parsed ``settings``.

    Raises ``ConfigurationError`` for an unreadable or unusable key file.
    """
    names = settings.push_senders
    senders = {
        name: SENDER_FACTORIES[name](settings)
        for name in names if name != "log"
    }
    if "log" in names:
        log_sender = LogSender()
        for platform in PLATFORMS:
            senders.setdefault(platform, log_sender)
    try:
        return Dispatcher(
            senders, prune=prune,
            coalesce_window=settings.push_coalesce_window,
            queue_size=settings.push_queue_size,
            max_attempts=settings.push_max_attempts,
            backoff_base=settings.push_backoff_base,
            backoff_max=settings.push_backoff_max,
            send_timeout=settings.push_send_timeout)
    except ValueError as exc:
        raise ConfigurationError(f"myproject.push.{exc}") from None

