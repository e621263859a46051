"""Silent "poll now" pushes to users' devices, sent from a background thread.

The app builds one dispatcher per process with ``build_dispatcher``, starts
it with the app, calls ``submit(user_id, generation, devices)`` after each
successful commit and ``stop()`` at shutdown.  Nothing here touches ZODB:
dead tokens are handed to the app's ``prune(user_id, device)`` callable.

Settings (keys under ``myproject.push.``; read once, here):

``senders``
    Which senders to use, separated by spaces or newlines: ``apns``,
    ``fcm``, ``log``.  ``log`` only logs what would be sent (never a token,
    only a short hash of it) and serves every platform no other listed
    sender serves.  Default ``log``.
``coalesce_window``
    Seconds (float) during which one user's submits merge into one push
    per device carrying the latest generation.  ``0`` sends at once.
    Default ``0.05``.
``queue_size``
    Device notifications that may wait or be in flight; beyond it submits
    are dropped, counted and logged.  Default ``10000``.
``max_attempts``
    Attempts per notification for transient failures (429, 5xx, FCM
    UNAVAILABLE/QUOTA_EXCEEDED, timeouts, connection errors).  Default 5.
``backoff_base``, ``backoff_max``
    Seconds (float): retry *n* waits a random time up to
    ``min(backoff_max, backoff_base * 2 ** (n - 1))``, and never less than
    the service's Retry-After; a Retry-After above ``backoff_max`` gives
    up.  Defaults ``0.5`` and ``30``.
``send_timeout``
    Seconds (float) any one FCM (or log) send may take before it counts as
    a transient failure; APNs sends are bounded by ``apns.timeout``.
    Default ``10``.

``apns.key_file``
    Path of the APNs token signing key (``AuthKey_XXXXXXXXXX.p8``); its
    contents are read at start.  Required with ``apns``.
``apns.key_id``, ``apns.team_id``
    The key's id and the Apple developer team id.  Required with ``apns``.
``apns.topic``
    The app's bundle id.  Required with ``apns``.
``apns.sandbox``
    ``true`` sends every device to the APNs sandbox (development builds
    only); otherwise a device's ``environment`` (``production``, or
    ``sandbox``/``development``) picks the host.  Default ``false``.
``apns.pool_size``
    Most HTTP/2 connections per APNs environment.  Default 10.
``apns.timeout``
    Seconds (float) to wait for APNs to answer one push.  Default 10.
``apns.server``, ``apns.sandbox_server``
    ``host:port`` used instead of Apple's production (sandbox) host; the
    sandbox one defaults to ``apns.server``.  For tests and staging.
``apns.ca_file``
    A PEM file of CA certificates to trust instead of the system's (the
    fake APNs' test CA).

``fcm.service_account_file``
    Path of the Firebase service-account JSON key.  Required with ``fcm``.
``fcm.project_id``
    The Firebase project id; defaults to the one in the file.
``fcm.timeout``
    Seconds (float) per HTTP request to FCM.  Default 10.
``fcm.workers``
    Threads running pyfcm (it blocks).  Default 4.
``fcm.server``
    Base URL used instead of ``https://fcm.googleapis.com`` (tests); the
    access token comes from the file's ``token_uri``.
"""
from pyramid.exceptions import ConfigurationError
from pyramid.settings import aslist

from . import apns, config, fcm
from .dispatcher import Device, Dispatcher
from .log import LogSender
from .sender import ISender, Outcome, Result

__all__ = [
    "Device", "Dispatcher", "ISender", "Outcome", "Result", "build_dispatcher",
]

PREFIX = config.PREFIX

#: Platform -> factory building its sender from the settings.
SENDER_FACTORIES = {
    "apns": apns.sender_from_settings,
    "fcm": fcm.sender_from_settings,
}
PLATFORMS = tuple(SENDER_FACTORIES)


def build_dispatcher(settings, *, prune=None):
    """Return a ``Dispatcher`` (not started) configured from ``settings``.

    Raises ``ConfigurationError`` for an unknown sender, a missing or
    malformed setting, or an unreadable key file.
    """
    names = aslist(settings.get(PREFIX + "senders") or "log")
    unknown = set(names) - set(SENDER_FACTORIES) - {"log"}
    if unknown:
        raise ConfigurationError(
            f"{PREFIX}senders: unknown {', '.join(sorted(unknown))} "
            f"(choose from log, {', '.join(PLATFORMS)})")
    senders = {
        name: SENDER_FACTORIES[name](settings)
        for name in names if name != "log"
    }
    if "log" in names:
        log_sender = LogSender()
        for platform in PLATFORMS:
            senders.setdefault(platform, log_sender)

    def number(name, default, kind):
        return config.number(settings, PREFIX + name, default, kind)

    options = dict(
        coalesce_window=number("coalesce_window", 0.05, float),
        queue_size=number("queue_size", 10000, int),
        max_attempts=number("max_attempts", 5, int),
        backoff_base=number("backoff_base", 0.5, float),
        backoff_max=number("backoff_max", 30.0, float),
        send_timeout=number("send_timeout", 10.0, float),
    )
    try:
        return Dispatcher(senders, prune=prune, **options)
    except ValueError as exc:
        raise ConfigurationError(f"{PREFIX}{exc}") from None
