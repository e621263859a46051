"""What the dispatcher and a sender agree on: ``ISender`` and ``Result``.

A sender delivers one silent push to one device and says what happened as a
``Result``; the dispatcher decides what to do about it (retry, prune, give
up).  Senders never retry on their own and never log a device token; they
log ``token_hash(token)`` when they must name a device.
"""
import asyncio
import enum
import hashlib
from dataclasses import dataclass

from zope.interface import Attribute, Interface

#: Device platforms, each served by a sender.
PLATFORMS = ("apns", "fcm")
#: Environments of an APNs device: its app's build (``aps-environment``)
#: is served by Apple's production host or its sandbox (development) one.
#: FCM devices are always ``production``.
ENVIRONMENTS = ("production", "sandbox")
SANDBOX = "sandbox"
#: Hex digits of a ``token_hash``.
TOKEN_HASH_LENGTH = 12


class Outcome(enum.Enum):
    """What the dispatcher does with a push after one attempt."""

    SENT = "sent"
    PRUNE = "prune"    # the token is dead: remove the device
    RETRY = "retry"    # a transient failure: try again later
    FAIL = "fail"      # a permanent failure: give up


@dataclass(frozen=True)
class Result:
    """The answer to one send attempt.

    ``status`` is the HTTP status (or ``None`` when no answer came),
    ``reason`` the service's error reason, and ``retry_after`` the seconds
    the service asked us to wait (``None`` when it did not say).
    """

    outcome: Outcome
    status: int | None = None
    reason: str = ""
    retry_after: float | None = None


SENT = Result(Outcome.SENT, 200)


class ISender(Interface):
    """Delivers silent "poll now" pushes for one platform."""

    name = Attribute("Short name used in logs, e.g. 'apns'.")
    timeout = Attribute(
        "Seconds after which send() gives up by itself (returning a RETRY "
        "result), or None: the dispatcher then applies its send_timeout.")

    def send(user_id, generation, device):
        """Return an awaitable of the ``Result`` of one push to ``device``.

        Runs on the dispatcher's event loop and must not block it.  May
        raise; the dispatcher treats ``TimeoutError``/``OSError`` as
        transient and any other exception as a failure.
        """

    def close():
        """Return an awaitable that releases connections and threads."""


def token_hash(token):
    """Return a short, stable, non-reversible tag for a device token (for
    logs, the admin pages and API answers: never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[
        :TOKEN_HASH_LENGTH]


def collapse_id(user_id):
    """Return the collapse id/key for a user's pushes (ASCII, 45 bytes).

    Derived from a hash so it has a fixed length well under APNs' 64-byte
    limit and does not hand the user id itself to Apple or Google.
    """
    digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:40]
    return f"sync-{digest}"


if hasattr(asyncio, "timeout"):                          # Python >= 3.11
    async def within(seconds, awaitable):
        """Return the result of ``awaitable``; ``asyncio.TimeoutError``
        after ``seconds`` (the awaitable is cancelled)."""
        async with asyncio.timeout(seconds):
            return await awaitable
else:                                                    # pragma: no cover
    async def within(seconds, awaitable):
        """Return the result of ``awaitable``; ``asyncio.TimeoutError``
        after ``seconds`` (the awaitable is cancelled)."""
        return await asyncio.wait_for(awaitable, seconds)


@dataclass(frozen=True)
class Device:
    """A push target: its platform (one of ``sender.PLATFORMS``), its token
    and its environment (one of ``sender.ENVIRONMENTS``; APNs only).  Its
    repr shows a hash of the token, never the token."""

    platform: str
    token: str
    environment: str = "production"

    def __repr__(self):
        return (f"Device({self.platform!r}, #{token_hash(self.token)}, "
                f"{self.environment!r})")
