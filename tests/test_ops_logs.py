"""Request ids in responses and logs; JSON logs from a real pserve."""
import json
import urllib.error
import urllib.request

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
