"""Request ids in responses and logs; JSON logs from a real pserve."""
import json
import urllib.error
import urllib.request

import pytest
import webtest

from myproject import main

from .conftest import _close, app_settings, make_user
from .servers import Server, write_ini

JSON_LOGGING = """\
[formatters]
keys = json

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = json

[formatter_json]
class = pythonjsonlogger.json.JsonFormatter
format = %(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s
"""


def json_logging_ini(tmp_path):
    """An .ini like production's but logging JSON (docs/operations.txt)."""
    settings = app_settings(tmp_path)
    app = main({}, **settings)
    token = make_user(app, "alice")
    _close(app)
    ini, port = write_ini(str(tmp_path), settings["zodbconn.uri"], settings={
        "pyramid.includes": "tests.slow_view"})
    with open(ini) as f:
        text = f.read()
    text = text[:text.index("[formatters]")] + JSON_LOGGING
    with open(ini, "w") as f:
        f.write(text)
    return ini, port, token


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_the_request_id_goes_out_and_into_json_logs(tmp_path):
    ini, port, token = json_logging_ini(tmp_path)
    server = Server(ini, port).start()
    try:
        status, headers = get(
            f"{server.url}/slow?seconds=0&marker={tmp_path}/marker",
            {"X-Request-Id": "req-42"})
        assert (status, headers["X-Request-Id"]) == (200, "req-42")
        status, headers = get(server.url + "/users/alice?generation=1",
                              {"Authorization": f"Bearer {token}"})
        assert status == 200 and headers["X-Request-Id"]  # the shortcut
        status, made = get(server.url + "/__lbheartbeat__")
        status, other = get(server.url + "/__lbheartbeat__",
                            {"X-Request-Id": "not sane!"})
        assert made["X-Request-Id"] != other["X-Request-Id"]
        assert other["X-Request-Id"] != "not sane!"
    finally:
        server.stop()
    records = [json.loads(line) for line in server.log(tail=None).splitlines()
               if line.startswith("{")]
    started = [r for r in records if r["message"] == "slow request started"]
    assert len(started) == 1
    assert started[0]["request_id"] == "req-42"
    assert started[0]["levelname"] == "INFO"
    assert started[0]["name"] == "tests.slow_view"
    # Outside a request: "-"; every line of the log is a JSON object.
    assert {r["request_id"] for r in records} == {"req-42", "-"}
    assert all(line.startswith("{") for line in server.log(
        tail=None).splitlines() if not line.startswith("Starting server"))


@pytest.mark.parametrize("metrics", ["true", "false"])
def test_every_answer_names_its_request(tmp_path, metrics):
    """The request-id tween is the outermost of the app's: the poll's
    shortcut, a 401, a CORS preflight and a 404 carry the id as well."""
    app = main({}, **app_settings(tmp_path, **{
        "myproject.metrics.enabled": metrics,
        "myproject.cors.origins": "https://app.example"}))
    try:
        token = make_user(app, "alice")
        testapp = webtest.TestApp(app)
        answers = [
            testapp.get("/users/alice?generation=0",
                        headers={"Authorization": f"Bearer {token}"}),
            testapp.get("/users/alice", status=401),
            testapp.get("/nosuch", status=404),
            testapp.options("/users/alice", headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET"}),
        ]
        ids = [answer.headers.get("X-Request-Id") for answer in answers]
        assert all(ids) and len(set(ids)) == len(ids), ids
        sent = testapp.get("/users/alice", status=401,
                           headers={"X-Request-Id": "mine-1"})
        assert sent.headers["X-Request-Id"] == "mine-1"
    finally:
        _close(app)


def test_a_token_sent_as_the_request_id_is_not_kept(testapp, alice):
    """The id goes into every log line: a token there would be logged."""
    answer = testapp.get("/users/alice", status=401,
                         headers={"X-Request-Id": alice})
    assert answer.headers["X-Request-Id"] != alice
    assert alice.split(".")[1] not in answer.headers["X-Request-Id"]
