"""APNs sender: silent background pushes through aioapns 4 (token auth).

One aioapns client per APNs environment (production, sandbox), built on
first use inside the dispatcher's running loop (aioapns binds its pool to
the current loop when it is constructed).  aioapns has no per-request
timeout, so every send is given one (``Deadlines``: one sweeping task for
all sends rather than a timer each); the request itself is left running
when its time is up, so a late answer still finds its future (cancelling
aioapns' future and then receiving the answer would break the connection).

Each client's pool gets a subclass of aioapns' ``protocol_class``: it
returns HTTP/2 flow-control credit for the answers it reads (aioapns does
not, and would stall after 64 KiB of error answers on one connection), and
for tests and staging it points the client at another host with
``server`` / ``sandbox_server``: aioapns connects to (and sends as
``host``) the protocol class's ``APNS_SERVER`` and ``APNS_PORT``.
``ca_file`` makes the TLS context trust a private CA (the fake's).
"""
import asyncio
import collections
import functools
import ssl

import jwt
from aioapns import APNs, NotificationRequest, PushType
from aioapns.common import PRIORITY_NORMAL
from aioapns.exceptions import (
    ConnectionClosed,
    ConnectionError as APNsConnectionError,
    MaxAttemptsExceeded,
)
from pyramid.exceptions import ConfigurationError
from zope.interface import implementer

from .sender import SANDBOX, SENT, ISender, Outcome, Result, collapse_id

#: Reasons meaning the token will never work again: remove the device.
DEAD_TOKEN_REASONS = frozenset(
    {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})

_TRANSIENT_ERRORS = (
    APNsConnectionError, ConnectionClosed, MaxAttemptsExceeded, OSError)


def payload(generation):
    """Return the silent push body: ``content-available`` only, generation outside ``aps``."""
    return {"aps": {"content-available": 1}, "generation": generation}


def classify(status, reason):
    """Return the ``Result`` for an APNs answer (status as APNs gives it)."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return Result(Outcome.RETRY, None, reason or "no status")
    if code == 200:
        return SENT
    if code == 410 or reason in DEAD_TOKEN_REASONS:
        return Result(Outcome.PRUNE, code, reason)
    if code == 429 or code >= 500:
        return Result(Outcome.RETRY, code, reason)
    return Result(Outcome.FAIL, code, reason)


@implementer(ISender)
class APNsSender:
    """Sends background pushes to APNs with a .p8 signing key.

    ``key`` is the key's PEM contents (not its path).  ``timeout`` bounds
    the wait for each answer (the dispatcher relies on it).  ``sandbox`` sends
    every device to the sandbox; otherwise a device's ``environment``
    decides.  ``server``/``sandbox_server`` are ``(host, port)`` overrides.
    Raises ``ValueError`` if ``key`` cannot sign an ES256 token.
    """

    name = "apns"

    def __init__(self, *, key, key_id, team_id, topic, sandbox=False,
                 pool_size=10, timeout=10.0, server=None,
                 sandbox_server=None, ca_file=None):
        try:
            jwt.encode({"iss": team_id}, key, algorithm="ES256",
                       headers={"kid": key_id})
        except Exception as exc:
            raise ValueError(
                f"the APNs key cannot sign tokens ({type(exc).__name__})"
            ) from None
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._topic = topic
        self._sandbox = sandbox
        self._pool_size = pool_size
        self.timeout = timeout
        self._servers = {False: server, True: sandbox_server or server}
        self._ca_file = ca_file
        self._clients = {}
        self._deadlines = Deadlines()

    def __repr__(self):
        return f"<APNsSender topic={self._topic!r} sandbox={self._sandbox}>"

    async def send(self, user_id, generation, device):
        """Return the ``Result`` of one background push to ``device``."""
        use_sandbox = (
            self._sandbox or device.environment == SANDBOX)
        client = self._client(use_sandbox)
        request = NotificationRequest(
            device_token=device.token,
            message=payload(generation),
            priority=PRIORITY_NORMAL,
            collapse_key=collapse_id(user_id),
            push_type=PushType.BACKGROUND,
        )
        pending = asyncio.ensure_future(client.send_notification(request))
        try:
            response = await self._deadlines.wait(pending, self.timeout)
        except asyncio.TimeoutError:
            return Result(Outcome.RETRY, None, "timeout")
        except _TRANSIENT_ERRORS as exc:
            return Result(Outcome.RETRY, None, type(exc).__name__)
        return classify(response.status, response.description or "")

    async def close(self):
        """Close every connection of every client."""
        self._deadlines.close()
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.pool.close()

    def _client(self, use_sandbox):
        client = self._clients.get(use_sandbox)
        if client is None:
            client = self._clients[use_sandbox] = self._build(use_sandbox)
        return client

    def _build(self, use_sandbox):
        """Return a new aioapns client; call only inside the running loop."""
        context = ssl.create_default_context(cafile=self._ca_file)
        context.set_alpn_protocols(["h2"])
        client = APNs(
            key=self._key,
            key_id=self._key_id,
            team_id=self._team_id,
            topic=self._topic,
            max_connections=self._pool_size,
            # The dispatcher owns retries (with backoff); one attempt here.
            max_connection_attempts=1,
            use_sandbox=use_sandbox,
            ssl_context=context,
            err_func=_leave_errors_to_dispatcher,
        )
        client.pool.protocol_class = _protocol_class(
            client.pool.protocol_class, self._servers[use_sandbox])
        return client


class Deadlines:
    """Time-outs for many sends sharing one duration, by one sweeping task.

    A timer per send (``asyncio.timeout``) costs a heap entry each; with
    thousands in flight that is much of the dispatcher's overhead.  Sends
    share one duration, so their deadlines come in order: a queue and one
    task that wakes a few times per duration cover them all (a time-out
    may come up to a tenth of the duration late).  The send itself is left
    running when its caller stops waiting: cancelling an aioapns send
    would break its connection.
    """

    def __init__(self):
        self._queue = collections.deque()
        self._sweeper = None

    def wait(self, pending, seconds):
        """Return a future with pending's outcome, or TimeoutError after seconds."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        pending.add_done_callback(functools.partial(_relay, answer))
        self._queue.append((loop.time() + seconds, answer, pending))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep(seconds / 10))
        return answer

    async def _sweep(self, interval):
        loop = asyncio.get_running_loop()
        queue = self._queue
        while queue:
            await asyncio.sleep(interval)
            now = loop.time()
            while queue and queue[0][0] <= now:
                _, answer, pending = queue.popleft()
                if not answer.done():
                    answer.set_exception(asyncio.TimeoutError())
            while queue and queue[0][1].done():
                queue.popleft()

    def close(self):
        if self._sweeper is not None:
            self._sweeper.cancel()


def _relay(answer, pending):
    """Pass a finished send's outcome on, unless its caller stopped waiting."""
    if answer.done():  # timed out, or the waiting delivery was cancelled
        _consume(pending)
        return
    if pending.cancelled():
        answer.cancel()
    elif pending.exception() is not None:
        answer.set_exception(pending.exception())
    else:
        answer.set_result(pending.result())


def _protocol_class(base, server):
    """Return a subclass of aioapns' protocol ``base`` that returns flow-
    control credit, aimed at ``server`` (``(host, port)``) if given."""

    class Protocol(base):
        def on_data_received(self, data, stream_id):
            # aioapns never acknowledges received DATA, so the error bodies
            # APNs sends use up the connection's 64 KiB receive window;
            # after that APNs can answer no error on it any more and every
            # later failure would look like a timeout.  (Padding, which
            # APNs does not send, would not be counted here.)
            super().on_data_received(data, stream_id)
            self.conn.acknowledge_received_data(len(data), stream_id)

    Protocol.__name__ = Protocol.__qualname__ = base.__name__
    if server is not None:
        Protocol.APNS_SERVER, Protocol.APNS_PORT = server
    return Protocol


async def _leave_errors_to_dispatcher(request, result):
    """Replace aioapns' own error log: the dispatcher logs outcomes."""


def _consume(future):
    """Retrieve a shielded send's outcome after its caller stopped waiting."""
    if not future.cancelled():
        future.exception()


def sender_from_settings(settings):
    """Return an ``APNsSender`` from the parsed ``myproject.push.apns.*``.

    Reads the key file now, so a missing file stops the start.  Raises
    ``ConfigurationError`` naming the setting.
    """
    key_file = settings.push_apns_key_file
    try:
        with open(key_file, encoding="ascii") as f:
            key = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"myproject.push.apns.key_file: cannot read {key_file} "
            f"({type(exc).__name__})") from None
    try:
        return APNsSender(
            key=key,
            key_id=settings.push_apns_key_id,
            team_id=settings.push_apns_team_id,
            topic=settings.push_apns_topic,
            sandbox=settings.push_apns_sandbox,
            pool_size=settings.push_apns_pool_size,
            timeout=settings.push_apns_timeout,
            server=settings.push_apns_server,
            sandbox_server=settings.push_apns_sandbox_server,
            ca_file=settings.push_apns_ca_file or None)
    except ValueError as exc:
        raise ConfigurationError(
            f"myproject.push.apns.key_file {key_file}: {exc}") from None
