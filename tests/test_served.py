"""Hostile requests to a real ``pserve``: undecodable paths get the JSON
400, and nothing secret reaches the server's log (waitress's lines too)."""
import json
import re
import urllib.parse

import pytest

from myproject import main
from myproject.passwords import hash_password

from .conftest import _close, app_settings, auth, make_user
from .servers import Server, raw_request, write_ini

ADMIN_NAME = "boss"
ADMIN_PASSWORD = "served test password"
PUSH_TOKEN = "f" * 24 + "0123456789abcdef" * 3


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, alice's token): a pserve logging at INFO, alice with a
    registered device."""
    folder = tmp_path_factory.mktemp("served")
    uri = f"file://{folder}/Data.fs"
    settings = {
        "myproject.push.senders": "log",
        "myproject.admin.username": ADMIN_NAME,
        "myproject.admin.password_hash": hash_password(ADMIN_PASSWORD,
                                                       n=2 ** 10),
        "myproject.admin.session_secret": "served-test-secret-" + "x" * 20,
    }
    application = main({}, **app_settings(folder, **{"zodbconn.uri": uri}))
    try:
        alice = make_user(application, "alice")
    finally:
        _close(application)
    ini, port = write_ini(str(folder), uri, settings=settings,
                          log_level="INFO")
    server = Server(ini, port).start()
    try:
        status, _, _ = raw_request(
            port, "POST", "/users/alice/@@devices",
            [("Authorization", "Bearer " + alice),
             ("Content-Type", "application/json")],
            json.dumps({"platform": "apns", "token": PUSH_TOKEN}).encode())
        assert status == 201
        yield server, alice
    finally:
        server.stop()


UNDECODABLE = ["/users/%FF", "/users/alice/%C0%AF", "/%ED%A0%80",
               "/users/alice/messages/%FF", "/users/%ED%A0%80/messages",
               "/@@admin/%FF", "/users/alice/@@devices/%FF"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_undecodable_paths_are_a_json_400(served, method):
    server, alice = served
    for path in UNDECODABLE:
        for headers in [[], [("Authorization", "Bearer " + alice)]]:
            headers = headers + [("Content-Type", "application/json")]
            status, found, body = raw_request(
                server.port, method, path, headers,
                b'{"id": "x"}' if method != "GET" else b"")
            assert status == 400, (method, path, body)
            assert found["content-type"].startswith("application/json")
            assert json.loads(body)["error"] == "bad_request"
    assert "Exception while serving" not in server.log(None)
    assert "Traceback" not in server.log(None)


def _failed_admin_login(port, username, password):
    status, found, body = raw_request(port, "GET", "/@@admin-login")
    assert status == 200
    cookie = found["set-cookie"].split(";", 1)[0]
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode({
        "csrf_token": csrf.decode(), "username": username,
        "password": password, "came_from": ""}).encode()
    status, _, body = raw_request(
        port, "POST", "/@@admin-login",
        [("Cookie", cookie),
         ("Content-Type", "application/x-www-form-urlencoded")], form)
    assert status == 200 and b"Wrong username or password" in body


def test_nothing_secret_reaches_the_log(served):
    server, alice = served
    token_id, _, secret = alice.partition(".")
    bearer = [("Authorization", "Bearer " + alice)]
    for method, path in [
            ("DELETE", f"/users/alice/@@devices/{PUSH_TOKEN}%FF"),
            ("DELETE", f"/users/alice/@@devices/{PUSH_TOKEN}/%C0%AF"),
            ("GET", f"/users/alice/@@devices/{PUSH_TOKEN}%ED%A0%80"),
            ("DELETE", f"/users/alice/@@devices/{PUSH_TOKEN}x"),
            ("GET", f"/users/{alice}%FF"),
            ("GET", f"/users/alice/{alice}"),
            ("POST", f"/users/alice/{secret}%FF"),
            ("GET", f"/users/alice?generation=%FF{secret}"),
            ("GET", f"/users/alice/messages?x=%FF&t={alice}")]:
        for headers in [bearer, [("Authorization", "Bearer " + alice + "x")]]:
            status, _, _ = raw_request(
                server.port, method, path,
                headers + [("Content-Type", "application/json")],
                b"{}" if method != "GET" else b"")
            assert 400 <= status < 500, (method, path, status)
    _failed_admin_login(server.port, ADMIN_PASSWORD, "a guess")
    _failed_admin_login(server.port, "someone", ADMIN_PASSWORD)
    log = server.log(None)
    assert "Exception while serving" not in log
    for secret_text in [alice, secret, PUSH_TOKEN, PUSH_TOKEN[:32],
                        ADMIN_PASSWORD]:
        assert secret_text not in log
    from myproject.redact import short_hash
    assert short_hash(ADMIN_PASSWORD) in log
    assert short_hash("someone") in log
    assert "failed admin login" in log
