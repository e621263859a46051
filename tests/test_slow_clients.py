"""Slow clients and large requests, against a real pserve with the waitress
settings development.ini ships (docs/api.txt, "Slow clients and large
requests").

The server here runs with development.ini's ``[server:main]`` as it is,
except for the address it listens on, so these tests check what ships.
"""
import configparser
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from myproject.settings import app_settings

from .servers import Server, add_user, write_ini

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Connections that send their request headers one byte at a time.
SLOW_CLIENTS = 200
#: Seconds between two bytes of each slow connection.
DRIP_INTERVAL = 5.0
#: Seconds a normal request may take while the slow connections are open.
PROMPT = 2.0
#: The size the oversized request announces: 50 MiB.
HUGE = 50 * 1024 * 1024

#: Keys of ``[server:main]`` that say where to listen, not how.
ADDRESS_KEYS = {"use", "listen", "host", "port", "get port"}
#: What the hardening sets; both .ini files must agree on these.
LIMIT_KEYS = ("connection_limit", "channel_timeout", "cleanup_interval",
              "max_request_body_size", "max_request_header_size")


def server_section(name):
    """The ``[server:main]`` options of a shipped .ini, without [DEFAULT]."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        parser.read_file(f)
    defaults = parser.defaults()
    return {key: value for key, value in parser.items("server:main")
            if key not in defaults}


def shipped_server_settings():
    """development.ini's waitress options, the listen address left out."""
    return {key: value for key, value in server_section("development.ini").items()
            if key not in ADDRESS_KEYS}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slow")
    options = shipped_server_settings()
    threads = int(options.pop("threads", 4))  # waitress's default
    ini, port = write_ini(str(folder), f"file://{folder}/Data.fs",
                          threads=threads, server_settings=options,
                          settings={"myproject.push.senders": "log"})
    token = add_user(ini, "alice")
    server = Server(ini, port).start()
    yield server, token
    server.stop()


class SlowClients:
    """Connections that send a request's headers one byte per interval."""

    #: Longer than any run drips: the headers never end.
    HEADERS = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
               + b"s" * 1000)

    def __init__(self, port, count, interval):
        self.interval = interval
        self.sockets = []
        self.sent = 0
        self.rounds = 0
        self.errors = []
        self.stopped = threading.Event()
        self.dripped = threading.Event()  # one whole round after connecting
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setblocking(False)  # one byte never fills the send buffer
            self.sockets.append(sock)
        self._send_one()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _send_one(self):
        byte = self.HEADERS[self.sent:self.sent + 1]
        for sock in self.sockets:
            try:
                sock.sendall(byte)
            except OSError as e:
                self.errors.append(e)
        self.sent += 1

    def _drip(self):
        # Bounded by the headers' length and by stop().
        while self.sent < len(self.HEADERS) and not self.stopped.wait(
                self.interval):
            self._send_one()
            self.rounds += 1
            self.dripped.set()

    def open_count(self):
        """How many of the connections the server has not closed."""
        count = 0
        for sock in self.sockets:
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                count += 1  # nothing to read: still open, still waiting
            except OSError:
                pass
            else:
                assert data == b"", data  # the server answered a half request
        return count

    def stop(self):
        self.stopped.set()
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


def timed(request, timeout=PROMPT + 3):
    """(seconds, status, body) of a urllib request, HTTP errors included."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    except OSError as e:
        pytest.fail(f"{request.get_method()} {request.full_url}: no answer "
                    f"in {time.monotonic() - start:.1f}s ({e!r})")
    return time.monotonic() - start, status, body


def raw_post(port, token, length, body, wait=5.0):
    """Send a POST's headers announcing ``length`` and only ``body``.

    Return (seconds, the bytes answered until the server closed the
    connection or ``wait`` seconds passed).  A server that answers before
    the whole body came may close while the client still sends; that is
    no error here.
    """
    head = (f"POST /users/alice/messages HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {length}\r\n"
            f"Connection: close\r\n\r\n").encode()
    start = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(0.5)
        while time.monotonic() - start < wait:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not data:
                break  # the server closed the connection
            answer += data
    return time.monotonic() - start, answer


def test_both_ini_files_set_the_same_waitress_limits():
    development = server_section("development.ini")
    production = server_section("production.ini")
    for key in LIMIT_KEYS:
        assert key in development, key
        assert production.get(key) == development[key], key


def test_waitress_and_the_app_accept_the_same_largest_body(live, app):
    # waitress refuses a body of max_request_body_size bytes or more, the
    # app one of more than myproject.max_body_size bytes.
    server, token = live
    limit = app_settings(app.registry).max_body_size
    assert int(shipped_server_settings()["max_request_body_size"]) == limit + 1

    def body(document_id, size):
        prefix = json.dumps({"id": document_id, "pad": ""})[:-2]
        data = (prefix + "x" * (size - len(prefix) - 2) + '"}').encode()
        assert len(data) == size
        return data

    _, answer = raw_post(server.port, token, limit, body("the-limit", limit))
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    # One byte more is refused on its headers alone.
    seconds, answer = raw_post(server.port, token, limit + 1,
                               body("one-more", limit + 1)[:1000])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert seconds < PROMPT, seconds


def test_200_slow_header_clients_leave_normal_requests_answered(live):
    server, token = live
    deadline = time.monotonic() + 45
    slow = SlowClients(server.port, SLOW_CLIENTS, DRIP_INTERVAL)
    try:
        # Let every slow connection send another byte, DRIP_INTERVAL later.
        assert slow.dripped.wait(DRIP_INTERVAL + 10)
        assert slow.errors == []
        auth = {"Authorization": f"Bearer {token}"}
        checks = [
            urllib.request.Request(server.url + "/"),
            urllib.request.Request(server.url + "/users/alice?generation=0",
                                   headers=auth),
            urllib.request.Request(
                server.url + "/users/alice/messages?generation=0",
                data=b'{"id": "under-load"}', method="POST",
                headers={**auth, "Content-Type": "application/json"}),
            urllib.request.Request(server.url + "/users/alice/messages/under-load",
                                   headers=auth),
        ]
        for request in checks:
            seconds, status, body = timed(request)
            assert status in (200, 201), (request.full_url, status, body[:200])
            assert seconds < PROMPT, (request.full_url, seconds)
        assert json.loads(body) == {"document": {"id": "under-load"}}
        # The slow connections were held open all along: the server answered
        # beside them, it did not get rid of them.
        assert slow.open_count() == SLOW_CLIENTS
        assert slow.errors == []
        assert time.monotonic() < deadline
    finally:
        slow.stop()


def test_a_body_announced_at_50_mib_is_refused_before_it_is_read(live):
    server, token = live
    # The headers and the first 64 KiB of the body, nothing more: an answer
    # can only come before the body was read.
    seconds, answer = raw_post(server.port, token, HUGE,
                               b'{"id": "huge", "pad": "' + b"x" * 65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert seconds < PROMPT, seconds
    request = urllib.request.Request(
        f"{server.url}/users/alice/messages/huge",
        headers={"Authorization": f"Bearer {token}"})
    assert timed(request)[1] == 404
