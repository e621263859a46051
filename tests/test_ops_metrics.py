"""GET /metrics of a real pserve: parsed with prometheus_client's parser,
its counters moving with real requests and pushes."""
import json
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from myproject import main
from myproject.metrics import count_documents, route_kind

from .conftest import _close, app_settings, make_user
from .servers import Server, write_ini


def request(url, method="GET", body=None, headers=None):
    """Return (status, headers, body bytes)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def samples(url, headers=None):
    """Return {(name, sorted labels): value} of one scrape."""
    status, response_headers, body = request(url + "/metrics",
                                             headers=headers)
    assert status == 200, body
    assert response_headers["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = \
                sample.value
    return found


def delta(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def eventually(check, timeout=10):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


@pytest.fixture
def server_and_token(tmp_path):
    """A pserve on a FileStorage holding alice; her token."""
    settings = app_settings(tmp_path)
    app = main({}, **settings)
    token = make_user(app, "alice")
    _close(app)
    ini, port = write_ini(str(tmp_path), settings["zodbconn.uri"],
                          settings={"myproject.push.senders": "log",
                                    "myproject.push.coalesce_window": "0"})
    server = Server(ini, port).start()
    yield server, {"Authorization": f"Bearer {token}"}
    server.stop()


def test_counters_move_with_real_requests_and_pushes(server_and_token):
    server, auth = server_and_token
    url = server.url
    before = samples(url)
    status, headers, body = request(url + "/users/alice", headers=auth)
    generation = json.loads(body)["generation"]
    assert status == 200
    assert request(url + f"/users/alice?generation={generation}",
                   headers=auth)[0] == 200
    assert request(url + "/users/alice", headers=dict(
        auth, **{"If-None-Match": f'"{generation}"'}))[0] == 304
    assert request(url + "/users/alice/@@devices", "POST",
                   {"platform": "fcm", "token": "t" * 40},
                   headers=auth)[0] == 201
    for n in range(2):
        assert request(url + "/users/alice/messages", "POST",
                       {"id": f"m{n}", "text": "hi"}, headers=auth)[0] == 201
    status, _, body = request(
        url + f"/users/alice/messages?generation={generation}", headers=auth)
    assert count_documents(json.loads(body)) == 2
    assert request(url + "/users", headers=auth)[0] == 403
    assert request(url + "/nothing-here")[0] == 404
    eventually(lambda: delta(before, samples(url), "myproject_push_total",
                             platform="fcm", outcome="sent") == 2)
    after = samples(url)

    def moved(name, **labels):
        return delta(before, after, name, **labels)

    assert moved("myproject_requests_total", kind="poll", status="2xx") == 3
    assert moved("myproject_requests_total", kind="poll", status="3xx") == 1
    assert moved("myproject_requests_total", kind="write", status="2xx") == 3
    assert moved("myproject_requests_total", kind="admin", status="4xx") == 1
    assert moved("myproject_requests_total", kind="other", status="4xx") == 1
    assert moved("myproject_request_duration_seconds_count", kind="poll") == 4
    assert moved("myproject_polls_total", answer="not_modified") == 1
    assert moved("myproject_polls_total", answer="up_to_date") == 1
    assert moved("myproject_polls_total", answer="changes") == 2
    assert moved("myproject_poll_pages_total") == 2
    # alice's first poll: her two empty sets; the last one: 2 documents.
    assert moved("myproject_poll_documents_total") == 2
    assert moved("myproject_commits_total") == 2
    assert moved("myproject_tree_lock_wait_seconds_count") == 3
    assert moved("myproject_push_total", platform="fcm",
                 outcome="sent") == 2
    assert after["myproject_push_queue_depth", ()] == 0


def test_the_poll_shortcut_and_traversal_are_counted_alike(tmp_path):
    for fast in ("true", "false"):
        settings = app_settings(tmp_path / fast, **{
            "myproject.poll_fast_path": fast})
        app = main({}, **settings)
        try:
            import webtest
            testapp = webtest.TestApp(app)
            token = make_user(app, "alice")
            testapp.get("/users/alice?generation=0&limit=1",
                        headers={"Authorization": f"Bearer {token}"})
            text = testapp.get("/metrics").text
        finally:
            _close(app)
        assert 'myproject_polls_total{answer="changes"} 1.0' in text
        assert "myproject_poll_pages_total 1.0" in text


def test_metrics_ask_for_the_token_when_one_is_set(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.metrics.token": "s3cret"})
    server = Server(ini, port).start()
    try:
        status, headers, _ = request(server.url + "/metrics")
        assert status == 401
        assert request(server.url + "/metrics", headers={
            "Authorization": "Bearer wrong"})[0] == 401
        assert samples(server.url, {"Authorization": "Bearer s3cret"})
    finally:
        server.stop()


def test_metrics_off_means_no_endpoint_and_no_counting(tmp_path):
    settings = app_settings(tmp_path, **{"myproject.metrics.enabled": "false"})
    app = main({}, **settings)
    try:
        import webtest
        webtest.TestApp(app).get("/metrics", status=404)
        assert app.registry.myproject_metrics is None
    finally:
        _close(app)


@pytest.mark.parametrize("method, path, kind", [
    ("GET", "/users/alice", "poll"),
    ("HEAD", "/users/alice/messages/m1", "poll"),
    ("POST", "/users/alice/messages", "write"),
    ("POST", "/users/alice/@@devices", "write"),
    ("GET", "/users/alice/@@devices", "other"),
    ("GET", "/users", "admin"),
    ("POST", "/users/", "admin"),
    ("GET", "/users/alice/@@admin", "admin"),
    ("GET", "/@@push", "admin"),
    ("GET", "/usersx", "other"),
    ("GET", "/__heartbeat__", "other"),
])
def test_route_kinds(method, path, kind):
    assert route_kind(method, path) == kind


def metric(text, line_start):
    """The value of the sample line starting with line_start (0 if none)."""
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("conflicts, status", [(1, 200), (3, 503)])
def test_conflict_retries_and_503s_are_counted_once_per_request(
        tmp_path, monkeypatch, conflicts, status):
    import webtest
    from ZODB.POSException import ConflictError

    from myproject.documents import Document

    app = main({}, **app_settings(tmp_path))  # retry.attempts = 3
    try:
        testapp = webtest.TestApp(app)
        headers = {"Authorization": f"Bearer {make_user(app, 'alice')}"}
        testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=headers)
        real = Document.replace
        attempts = []

        def conflicting(self, data):
            attempts.append(1)
            if len(attempts) <= conflicts:
                raise ConflictError()
            return real(self, data)

        monkeypatch.setattr(Document, "replace", conflicting)
        testapp.put_json("/users/alice/messages/m1", {"v": 2},
                         headers=headers, status=status)
        text = testapp.get("/metrics").text
    finally:
        _close(app)
    retried = min(conflicts, 2)  # the third attempt is the last
    assert metric(text, 'myproject_retries_total{error="ConflictError"}') \
        == retried
    assert metric(text, "myproject_busy_total") == (status == 503)
    cls = f"{status // 100}xx"
    assert metric(text, f'myproject_requests_total{{kind="write",'
                        f'status="{cls}"}}') == (1 if status == 503 else 2)
    assert metric(text, "myproject_commits_total") == (2 if status == 200
                                                       else 1)
