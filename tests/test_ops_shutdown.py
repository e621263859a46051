"""SIGTERM and SIGINT end a real pserve the same clean way: no new
connections, requests in flight finished, pushes flushed, the databases
closed (the FileStorage index saved), the counters logged, status 0."""
import json
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from myproject import main

from .conftest import _close, app_settings, make_user
from .servers import Server, write_ini


def eventually(check, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not in {timeout}s"
        time.sleep(0.01)


def index_is_saved(folder):
    """Does Data.fs.index cover the whole of Data.fs?"""
    from ZODB.fsIndex import fsIndex
    data = os.path.join(folder, "var", "Data.fs")
    return fsIndex.load(data + ".index")["pos"] == os.path.getsize(data)


def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def post(url, body, token):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


@pytest.fixture
def ini(tmp_path):
    """An .ini of a FileStorage holding alice with one device; her token."""
    settings = app_settings(tmp_path)
    app = main({}, **settings)
    token = make_user(app, "alice")
    _close(app)
    path, port = write_ini(str(tmp_path), settings["zodbconn.uri"],
                           log_level="INFO", settings={
                               "pyramid.includes": "tests.slow_view",
                               "myproject.push.senders": "log",
                               # A push waits here until the shutdown
                               # cuts the window short.
                               "myproject.push.coalesce_window": "60"})
    return path, port, token


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_server_cleanly(ini, tmp_path, signum):
    path, port, token = ini
    server = Server(path, port, log_path=str(tmp_path / "first.log")).start()
    try:
        assert post(server.url + "/users/alice/@@devices",
                    {"platform": "fcm", "token": "t" * 40}, token) == 201
        assert post(server.url + "/users/alice/messages",
                    {"id": "m1", "text": "hi"}, token) == 201
        # A poll: the shortcut keeps its connection open between polls, and
        # the end must close it too.
        poll = urllib.request.Request(
            server.url + "/users/alice?generation=0",
            headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(poll, timeout=10) as r:
            assert r.status == 200
        marker = tmp_path / "slow-started"
        answers = []

        def slow_request():
            with urllib.request.urlopen(
                    f"{server.url}/slow?marker={marker}", timeout=30) as r:
                answers.append((r.status, r.read()))

        client = threading.Thread(target=slow_request)
        client.start()
        eventually(marker.exists, what="the slow request started")
        server.process.send_signal(signum)
        eventually(lambda: refuses_connections(port), timeout=1,
                   what="connections refused")
        assert client.is_alive()  # refused while a request is in flight
        client.join(30)
        assert answers == [(200, b"slow done")]
        assert server.process.wait(30) == 0
    finally:
        server.stop()
    log = server.log(tail=None)
    name = signal.Signals(signum).name
    assert f"{name}: stopping" in log
    assert ("push dispatcher stopped: {'sent': 1, 'failed': 0, 'retried': 0, "
            "'pruned': 0, 'dropped': 0, 'queue_depth': 0}") in log
    assert log.rstrip().endswith("[myproject.shutdown] stopped")
    assert "Traceback" not in log
    assert index_is_saved(tmp_path)

    again = Server(path, port, log_path=str(tmp_path / "second.log")).start()
    again.stop()
    assert again.process.returncode == 0
    assert "Ignoring index" not in again.log(tail=None)


def test_without_a_clean_end_the_index_is_not_saved(ini, tmp_path):
    """The control of the check above: SIGKILL leaves the index behind."""
    path, port, token = ini
    assert index_is_saved(tmp_path)  # the fixture's app closed cleanly
    server = Server(path, port, log_path=str(tmp_path / "first.log")).start()
    assert post(server.url + "/users/alice/messages",
                {"id": "m1", "text": "hi"}, token) == 201
    server.kill()
    assert not index_is_saved(tmp_path)
