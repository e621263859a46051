"""Held polls (``?wait=S``) against real servers: through a real Pushpin
(GRIP) in front of pserve, and held in the process (development)."""
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from myproject.scripts import admin as admin_script

from .pushpin import Pushpin
from .servers import Server, write_ini


def add_user(ini, user_id):
    out = io.StringIO()
    assert admin_script.main([ini, "add-user", user_id], out=out) == 0
    return out.getvalue().strip()


def call(url, token, method="GET", body=None, timeout=40, attempts=5):
    """Return (status, headers, JSON answer) of one request.

    A 5xx that is not the app's (Pushpin's own plain-text 500 or 502, when
    a connection it keeps to the app was closed under it or it is still
    connecting its processes) is tried again, as a browser's client would:
    the app's answers are JSON.
    """
    for attempt in range(attempts):
        status, headers, answer = _call(url, token, method, body, timeout)
        if status < 500 or isinstance(answer, dict) or attempt == attempts - 1:
            return status, headers, answer
        time.sleep(0.1)


def _call(url, token, method, body, timeout):
    request = urllib.request.Request(
        url, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, e.headers, json.loads(body) if body else body
        except ValueError:  # not the app's: Pushpin's own error page
            return e.code, e.headers, body


class Held(threading.Thread):
    """A poll in a thread of its own; ``answered_at`` when it returns."""

    def __init__(self, url, token):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.answer = self.answered_at = None

    def run(self):
        self.answer = call(self.url, self.token)
        self.answered_at = time.monotonic()


def wait_for(predicate, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} not met in {timeout}s")


def serve(tmp_path, threads=4, **settings):
    # Pushpin keeps its connections to the app open: waitress's default
    # connection_limit (100) would stop accepting before 200 holds.
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          threads=threads,
                          server_settings={"connection_limit": 1000},
                          settings={
                              "myproject.push.senders": "log", **settings})
    token = add_user(ini, "alice")
    return Server(ini, port).start(), token


@pytest.fixture
def behind_pushpin(tmp_path):
    """pserve with myproject.live.grip = true behind a real Pushpin."""
    pushpin = Pushpin(tmp_path / "pushpin", app_port=None)
    (tmp_path / "pushpin").mkdir()
    server, token = serve(tmp_path, **{
        "myproject.live.grip": "true",
        "myproject.live.publish_url": pushpin.publish_url})
    pushpin.app_port = server.port
    try:
        pushpin.start()
        settle(server, pushpin, token)
        yield server, pushpin, token
    finally:
        pushpin.stop()
        server.stop()


def settle(server, pushpin, token, attempts=5):
    """Hold one poll through the new Pushpin and answer it with a write.

    Right after it starts, Pushpin may answer its first holds with a 500
    of its own (plain text; the app answered them) while its processes
    finish connecting to each other: a fresh Pushpin is not ready until a
    hold went through.
    """
    for attempt in range(attempts):
        g = generation_of(server, token)
        held = Held(f"{pushpin.url}/users/alice?generation={g}&wait=20",
                    token)
        held.start()
        wait_for(lambda: held.answer is not None
                 or held_at(pushpin, "alice", g) >= 1, what="a first hold")
        if held.answer is None:
            call(server.url + "/users/alice/tasks", token, "POST",
                 {"id": f"settle-{attempt}"})
        held.join(10)
        if held.answer is not None and held.answer[0] == 200:
            return
    raise AssertionError(f"Pushpin held no poll in {attempts} attempts")


def generation_of(server, token):
    return call(server.url + "/users/alice", token)[2]["generation"]


def held_at(pushpin, user, generation):
    """How many polls Pushpin subscribed to the user's channel at G (its
    log line for a request it asked the app again for ends in "retry")."""
    log = pushpin.log()
    channel = f"channel=gsync.{user}.{generation}"
    return log.count(channel + "\n") + log.count(channel + " retry\n")


def test_a_poll_held_by_pushpin_is_answered_with_the_write(behind_pushpin):
    server, pushpin, token = behind_pushpin
    g = generation_of(server, token)
    held = Held(f"{pushpin.url}/users/alice?generation={g}&wait=20", token)
    held.start()
    wait_for(lambda: held_at(pushpin, "alice", g) >= 1, what="the hold")
    assert held.answer is None
    written = time.monotonic()
    # The write goes to the app directly: another connection, not Pushpin.
    call(server.url + "/users/alice/messages", token, "POST",
         {"id": "m1", "text": "hello"})
    held.join(10)
    status, headers, answer = held.answer
    delay = held.answered_at - written
    print(f"write to held answer through Pushpin: {delay * 1000:.1f} ms")
    assert status == 200
    assert answer == {"generation": g + 1, "adds": [
        {"set": "messages", "adds": [{"id": "m1", "text": "hello"}]}]}
    assert headers["ETag"] == f'"{g + 1}"'
    assert "Grip-Hold" not in headers
    assert delay < 2


def test_a_held_poll_times_out_with_the_up_to_date_answer(behind_pushpin):
    server, pushpin, token = behind_pushpin
    g = generation_of(server, token)
    started = time.monotonic()
    status, headers, answer = call(
        f"{pushpin.url}/users/alice?generation={g}&wait=1", token)
    assert (status, answer) == (200, {"generation": g})
    # Pushpin asks the app once more when a hold runs out, and holds that
    # answer a few seconds: the up-to-date answer comes within S + 10 s.
    assert 0.9 < time.monotonic() - started < 11


def test_the_app_answers_with_grip_instructions_only_when_up_to_date(
        behind_pushpin):
    server, _, token = behind_pushpin
    g = generation_of(server, token)
    status, headers, answer = call(
        f"{server.url}/users/alice?generation={g}&wait=7", token)
    assert headers["Grip-Hold"] == "response"
    assert headers["Grip-Channel"] == f"gsync.alice.{g}"
    assert headers["Grip-Timeout"] == "7"
    assert answer == {"generation": g}
    status, headers, answer = call(
        f"{server.url}/users/alice?generation={g - 1}&wait=7", token)
    assert "Grip-Hold" not in headers and answer["generation"] == g


def raw_poll(port, path, token):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {token}\r\n"
                  "Connection: close\r\n\r\n").encode())
    return sock


def read_all(sock, deadline):
    chunks = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:  # unanswered by the deadline: asked again
            break
        if not chunk:
            break
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_200_polls_held_by_pushpin_leave_the_app_s_threads_free(
        behind_pushpin):
    server, pushpin, token = behind_pushpin  # waitress threads = 4
    g = generation_of(server, token)
    socks = []
    try:
        # In waves of 25, as clients arrive: 200 hold responses at the same
        # instant overflow Pushpin's internal accept queue, and it answers
        # the overflow with a 500 of its own.
        for wave in range(8):
            socks += [raw_poll(pushpin.http_port,
                               f"/users/alice?generation={g}&wait=30", token)
                      for _ in range(25)]
            deadline = time.monotonic() + 10
            while (held_at(pushpin, "alice", g) < len(socks)
                   and time.monotonic() < deadline):
                time.sleep(0.05)
        # A hold Pushpin refused is retried below, and counted.
        assert held_at(pushpin, "alice", g) >= 190
        for url in (server.url, pushpin.url):  # direct, and through Pushpin
            started = time.monotonic()
            status, _, answer = call(url + "/users/alice?generation=0", token,
                                     timeout=5)
            assert status == 200 and answer["generation"] == g
            assert time.monotonic() - started < 1
        call(server.url + "/users/alice/messages", token, "POST",
             {"id": "m2"})
        deadline = time.monotonic() + 15
        answers = [read_all(sock, deadline) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    retried = 0
    for raw in answers:
        head, _, body = raw.partition(b"\r\n\r\n")
        if not raw or (head.startswith(b"HTTP/1.1 5")
                       and b"text/plain" in head):
            # Pushpin's own error (not the app's JSON), or a connection it
            # dropped: asked again, as a client would, it must get the write.
            retried += 1
            status, _, answer = call(
                f"{pushpin.url}/users/alice?generation={g}&wait=30", token)
            assert status == 200 and answer["generation"] == g + 1
            continue
        assert head.startswith(b"HTTP/1.1 200"), raw[:200]
        assert json.loads(body)["generation"] == g + 1
    assert retried <= 10, retried


# In the process, without Pushpin

def test_an_in_process_held_poll_is_answered_with_the_write(tmp_path):
    server, token = serve(tmp_path, **{"myproject.live.max_waiting": "2"})
    try:
        g = generation_of(server, token)
        held = Held(f"{server.url}/users/alice?generation={g}&wait=20", token)
        held.start()
        held.join(0.5)
        assert held.is_alive(), "answered at once: nothing was held"
        written = time.monotonic()
        call(server.url + "/users/alice/tasks", token, "POST", {"id": "t1"})
        held.join(10)
        delay = held.answered_at - written
        print(f"write to held answer in process: {delay * 1000:.1f} ms")
        assert held.answer[2] == {"generation": g + 1, "adds": [
            {"set": "tasks", "adds": [{"id": "t1"}]}]}
        assert delay < 2
    finally:
        server.stop()


def test_in_process_holds_are_bounded_by_max_waiting(tmp_path):
    server, token = serve(tmp_path, **{"myproject.live.max_waiting": "1"})
    try:
        g = generation_of(server, token)
        first = Held(f"{server.url}/users/alice?generation={g}&wait=20",
                     token)
        first.start()
        first.join(0.5)
        assert first.is_alive()
        started = time.monotonic()
        status, _, answer = call(
            f"{server.url}/users/alice?generation={g}&wait=20", token)
        assert (status, answer) == (200, {"generation": g})
        assert time.monotonic() - started < 2  # beyond the bound: at once
        call(server.url + "/users/alice/tasks", token, "POST", {"id": "t1"})
        first.join(10)
        assert first.answer[2]["generation"] == g + 1
    finally:
        server.stop()


def test_an_in_process_hold_times_out_with_the_up_to_date_answer(tmp_path):
    server, token = serve(tmp_path)
    try:
        g = generation_of(server, token)
        started = time.monotonic()
        status, headers, answer = call(
            f"{server.url}/users/alice?generation={g}&wait=1", token)
        assert (status, answer) == (200, {"generation": g})
        assert "Grip-Hold" not in headers
        assert 0.9 < time.monotonic() - started < 5
    finally:
        server.stop()


def test_a_publish_pushpin_does_not_take_is_counted_and_one_line(tmp_path):
    """Pushpin down: the write is saved and answered; the failed publish is
    a warning line (no traceback) and a count in /metrics."""
    from .servers import free_port
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={
                              "myproject.live.grip": "true",
                              "myproject.live.publish_url":
                                  f"http://127.0.0.1:{free_port()}"},
                          log_level="INFO")
    token = add_user(ini, "alice")
    server = Server(ini, port).start()
    try:
        status, _, _ = call(f"{server.url}/users/alice/messages", token,
                            "POST", {"id": "m1"})
        assert status == 201

        def failed():
            with urllib.request.urlopen(f"{server.url}/metrics") as r:
                text = r.read().decode()
            return 'myproject_live_publish_total{outcome="failed"} 1.0' in text
        deadline = time.monotonic() + 10
        while not failed() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert failed()
    finally:
        server.stop()
    log = server.log(tail=None)
    lines = [line for line in log.splitlines() if "live publish" in line]
    assert len(lines) == 1 and "WARNI" in lines[0], lines
    assert "Connection refused" in lines[0]
    assert "Traceback" not in log
