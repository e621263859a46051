"""Fake APNs and FCM servers on 127.0.0.1 for tests and benchmarks.

``FakeAPNs`` speaks HTTP/2 over TLS (h2 + a trustme certificate, ALPN h2)
like api.push.apple.com; ``FakeFCM`` speaks HTTP/1.1 (aiohttp) like
fcm.googleapis.com's v1 API and also serves the OAuth token endpoint the
service-account credentials use.  Each runs its own event loop in a daemon
thread, records every request and answers per device token, from a script
(``answer(token, 503, 503, 200)``: one answer per request, the last one
repeats; 200 for a token without a script).

Pointing the app at them: ``push_settings(...)`` returns the
``myproject.push.*`` settings.  Nothing here logs a token.
"""
import asyncio
import datetime
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import jwt
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError

HOST = "127.0.0.1"

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

#: Answer this to leave the request without any answer.
HANG = "hang"


@dataclass(frozen=True)
class Answer:
    """What a fake answers: a status, an error reason/code, a Retry-After,
    and (FCM) an error message."""

    status: int
    reason: Optional[str] = None
    retry_after: Optional[int] = None
    message: Optional[str] = None


@dataclass
class Recorded:
    """One request a fake received."""

    token: str
    path: str
    headers: dict
    body: dict
    received: float  # time.monotonic()
    protocol: str = ""  # ALPN protocol (APNs) or HTTP version (FCM)
    extra: dict = field(default_factory=dict)


def free_port():
    """Return a loopback TCP port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def eventually(predicate, timeout=5.0, interval=0.005):
    """Poll ``predicate`` until it is true; return its value.

    Raises ``AssertionError`` if it is still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"still false after {timeout}s")
        time.sleep(interval)


class _Fake:
    """Recording, scripted answers and a private event loop thread."""

    DEFAULT = Answer(200)

    def __init__(self):
        self._lock = threading.Condition()
        self._requests = []
        self._scripts = {}
        self._loop = None
        self._thread = None
        self.port = None

    def answer(self, token, *answers):
        """Script the answers to requests for ``token`` (ints, ``Answer``s or
        ``HANG``); the last one repeats."""
        script = [self._normalize(a) for a in answers]
        if not script:
            raise ValueError("give at least one answer")
        with self._lock:
            self._scripts[token] = script

    def reset(self):
        """Forget requests and scripts."""
        with self._lock:
            self._requests.clear()
            self._scripts.clear()

    @property
    def requests(self):
        """Return a copy of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, token):
        """Return the recorded requests for ``token``."""
        return [r for r in self.requests if r.token == token]

    def wait_for_requests(self, count, timeout=5.0):
        """Return the requests once at least ``count`` arrived.

        Raises ``AssertionError`` when fewer came within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self._requests)} requests, wanted {count}")
                self._lock.wait(left)
            return list(self._requests)

    def start(self):
        """Start serving; return self."""
        ready = threading.Event()
        failure = []

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._close())
            self._loop.close()

        self._thread = threading.Thread(
            target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self):
        """Stop serving and end the thread."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _record(self, recorded):
        """Store a request; return the answer for it."""
        with self._lock:
            self._requests.append(recorded)
            self._lock.notify_all()
            script = self._scripts.get(recorded.token)
            if not script:
                return self.DEFAULT
            return script.pop(0) if len(script) > 1 else script[0]

    @staticmethod
    def _normalize(answer):
        if answer == HANG or isinstance(answer, Answer):
            return answer
        if isinstance(answer, int):
            return Answer(answer)
        raise TypeError(f"not an answer: {answer!r}")


class FakeAPNs(_Fake):
    """HTTP/2 + TLS look-alike of APNs' provider API on 127.0.0.1.

    Answers carry APNs' JSON ``{"reason": ...}`` body (an ``Answer``'s
    reason, or the usual one for its status) and echo ``apns-id``.
    """

    REASONS = {
        400: "BadDeviceToken",
        403: "InvalidProviderToken",
        405: "MethodNotAllowed",
        410: "Unregistered",
        413: "PayloadTooLarge",
        429: "TooManyRequests",
        500: "InternalServerError",
        503: "ServiceUnavailable",
    }

    def __init__(self, ca=None, max_concurrent_streams=1000):
        super().__init__()
        self.ca = ca or trustme.CA()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(HOST, "localhost").configure_cert(self._context)
        self._context.set_alpn_protocols(["h2"])
        self._max_streams = max_concurrent_streams
        self._server = None
        self._protocols = set()

    @property
    def address(self):
        """Return ``127.0.0.1:port`` (the ``apns.server`` setting)."""
        return f"{HOST}:{self.port}"

    def write_ca(self, path):
        """Write the CA certificate (PEM) to ``path``; return the path as str."""
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    async def _serve(self):
        self._server = await self._loop.create_server(
            lambda: _H2Protocol(self), HOST, 0, ssl=self._context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self):
        self._server.close()
        for protocol in list(self._protocols):
            protocol.transport.close()
        await self._server.wait_closed()

    def drop_connections(self):
        """Close every client connection (the server keeps listening)."""
        def close_all():
            for protocol in list(self._protocols):
                protocol.transport.close()
        self._loop.call_soon_threadsafe(close_all)


class _H2Protocol(asyncio.Protocol):
    """One client connection of ``FakeAPNs``."""

    def __init__(self, fake):
        self.fake = fake
        self.conn = H2Connection(H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.streams = {}
        self.blocked = {}   # stream id -> body waiting for flow-control credit
        self.transport = None
        self.alpn = ""

    def connection_made(self, transport):
        self.transport = transport
        self.fake._protocols.add(self)
        self.alpn = transport.get_extra_info(
            "ssl_object").selected_alpn_protocol() or ""
        self.conn.local_settings.max_concurrent_streams = \
            self.fake._max_streams
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def connection_lost(self, exc):
        self.fake._protocols.discard(self)

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = (
                    dict(event.headers), bytearray())
            elif isinstance(event, DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self._answer(event.stream_id)
            elif isinstance(event, StreamReset):
                self.streams.pop(event.stream_id, None)
                self.blocked.pop(event.stream_id, None)
            elif isinstance(event, WindowUpdated):
                for stream_id, data in list(self.blocked.items()):
                    del self.blocked[stream_id]
                    self._send_body(stream_id, data)
            elif isinstance(event, ConnectionTerminated):
                self.transport.close()
                return
        self.transport.write(self.conn.data_to_send())

    def _answer(self, stream_id):
        """Record a finished request and answer it per the fake's script."""
        headers, raw = self.streams.pop(stream_id)
        path = headers.get(":path", "")
        prefix = "/3/device/"
        token = path[len(prefix):] if path.startswith(prefix) else ""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            body = {"<unparsable>": raw.decode("utf-8", "replace")}
        answer = self.fake._record(Recorded(
            token=token, path=path, headers=headers, body=body,
            received=time.monotonic(), protocol=self.alpn))
        if answer == HANG:
            return
        reply = [(":status", str(answer.status)),
                 ("apns-id", headers.get("apns-id", ""))]
        if answer.retry_after is not None:
            reply.append(("retry-after", str(answer.retry_after)))
        if answer.status == 200:
            self.conn.send_headers(stream_id, reply, end_stream=True)
            return
        error = {"reason": answer.reason or self.fake.REASONS.get(
            answer.status, "BadRequest")}
        if answer.status == 410:
            error["timestamp"] = int(time.time() * 1000)
        data = json.dumps(error).encode()
        reply.append(("content-type", "application/json"))
        reply.append(("content-length", str(len(data))))
        self.conn.send_headers(stream_id, reply)
        self._send_body(stream_id, data)

    def _send_body(self, stream_id, data):
        """Send ``data`` when the client's flow-control windows allow, as a
        real server must (it waits for WINDOW_UPDATE otherwise)."""
        if self.conn.local_flow_control_window(stream_id) < len(data):
            self.blocked[stream_id] = data
            return
        self.conn.send_data(stream_id, data, end_stream=True)


class FakeFCM(_Fake):
    """HTTP/1.1 look-alike of FCM's v1 send API and Google's token endpoint.

    ``POST /token`` checks the JWT grant against the service accounts this
    fake wrote and issues access tokens; ``POST /v1/projects/<id>/
    messages:send`` wants one of them and answers per token as FCM does
    (error body with ``status`` and an FcmError ``errorCode``).
    """

    ERRORS = {  # status -> (google.rpc status, FCM errorCode, message)
        400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT",
              "Request contains an invalid argument."),
        401: ("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",
              "Auth error from APNS or Web Push Service"),
        403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH",
              "SenderId mismatch"),
        404: ("NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
        429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED",
              "Quota exceeded for quota metric 'Send requests'."),
        500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
        503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    }
    #: The answer FCM gives a token that is not a registration token at all.
    INVALID_TOKEN = Answer(
        400, "INVALID_ARGUMENT",
        message="The registration token is not a valid FCM registration token")

    def __init__(self):
        super().__init__()
        self._runner = None
        self._public_keys = {}
        self.token_requests = []
        self._issued = set()

    @property
    def url(self):
        """Return ``http://127.0.0.1:port`` (the ``fcm.server`` setting)."""
        return f"http://{HOST}:{self.port}"

    def write_service_account(self, path, project_id="fake-project"):
        """Write a service-account JSON key (fresh RSA key, ``token_uri``
        here) to ``path``; return the path as str."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"push@{project_id}.iam.gserviceaccount.com"
        self._public_keys[email] = key.public_key()
        info = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": "fake-key-1",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode("ascii"),
            "client_email": email,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return str(path)

    def reset(self):
        """Forget requests, scripts and token requests (tokens stay valid)."""
        super().reset()
        with self._lock:
            self.token_requests.clear()

    async def _serve(self):
        self._hung = asyncio.Event()   # set at stop: hung requests end
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post(
            "/v1/projects/{project}/messages:send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _close(self):
        self._hung.set()
        await self._runner.cleanup()

    async def _token(self, request):
        form = await request.post()
        try:
            claims = jwt.decode(form.get("assertion", ""),
                                options={"verify_signature": False})
            key = self._public_keys[claims["iss"]]
            # google-auth names Google's endpoint as the audience even
            # when it posts to another token_uri.
            claims = jwt.decode(form["assertion"], key, algorithms=["RS256"],
                                audience=[f"{self.url}/token", GOOGLE_TOKEN_URI])
        except (jwt.PyJWTError, KeyError):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "bad JWT"},
                status=400)
        with self._lock:
            access_token = f"ya29.fake-{len(self._issued) + 1}"
            self._issued.add(access_token)
            self.token_requests.append(
                {"grant_type": form.get("grant_type"), "claims": claims})
        return web.json_response({
            "access_token": access_token, "expires_in": 3600,
            "token_type": "Bearer"})

    async def _send(self, request):
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        token = (message or {}).get("token", "")
        bearer = request.headers.get("Authorization", "")
        with self._lock:
            authorized = bearer.startswith("Bearer ") and \
                bearer[len("Bearer "):] in self._issued
        if not authorized:
            return self._error(Answer(401, "UNAUTHENTICATED",
                                      message="Request had invalid credentials."))
        answer = self._record(Recorded(
            token=token, path=request.path, headers=dict(request.headers),
            body=body, received=time.monotonic(),
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
            extra={"project": request.match_info["project"]}))
        if answer == HANG:
            await self._hung.wait()
            raise web.HTTPServiceUnavailable()
        if answer.status == 200:
            return web.json_response({
                "name": f"projects/{request.match_info['project']}"
                        f"/messages/{len(self.requests)}"})
        return self._error(answer)

    def _error(self, answer):
        status_text, code, message = self.ERRORS.get(
            answer.status, ("UNKNOWN", "UNSPECIFIED_ERROR", "Unknown error."))
        if answer.reason:
            code = answer.reason
        error = {
            "code": answer.status,
            "message": answer.message or message,
            "status": status_text,
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }],
        }
        headers = {}
        if answer.retry_after is not None:
            headers["Retry-After"] = str(answer.retry_after)
        return web.json_response(
            {"error": error}, status=answer.status, headers=headers)


def write_apns_key(path):
    """Write a fresh P-256 signing key (an APNs .p8 look-alike) to ``path``.

    Return the public key, to verify the provider tokens with.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    with open(path, "wb") as f:
        f.write(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return key.public_key()


def push_settings(*, apns=None, apns_key_file=None, ca_file=None, fcm=None,
                  service_account_file=None, **overrides):
    """Return ``myproject.push.*`` settings sending to the given fakes.

    Pass a started ``FakeAPNs`` with the key file and CA file, and/or a
    started ``FakeFCM`` with a service-account file it wrote.  Retries are
    quick (backoff 10 ms .. 200 ms) and the window short; ``overrides``
    (``coalesce_window="0"``, ``**{"apns.timeout": "1"}``) are merged in
    under the prefix.
    """
    prefix = "myproject.push."
    senders = []
    settings = {
        prefix + "coalesce_window": "0.02",
        prefix + "max_attempts": "3",
        prefix + "backoff_base": "0.01",
        prefix + "backoff_max": "0.2",
        prefix + "send_timeout": "5",
    }
    if apns is not None:
        senders.append("apns")
        settings.update({
            prefix + "apns.key_file": str(apns_key_file),
            prefix + "apns.key_id": "KEYID12345",
            prefix + "apns.team_id": "TEAMID1234",
            prefix + "apns.topic": "org.example.sync",
            prefix + "apns.server": apns.address,
            prefix + "apns.ca_file": str(ca_file),
            prefix + "apns.timeout": "2",
        })
    if fcm is not None:
        senders.append("fcm")
        settings.update({
            prefix + "fcm.service_account_file": str(service_account_file),
            prefix + "fcm.server": fcm.url,
            prefix + "fcm.timeout": "2",
        })
    settings[prefix + "senders"] = " ".join(senders) or "log"
    settings.update({prefix + k: v for k, v in overrides.items()})
    return settings


def retry_after_date(seconds):
    """Return an HTTP-date ``seconds`` from now (a Retry-After value)."""
    when = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=seconds)
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")
