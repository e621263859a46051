"""The poll's shortcut answers exactly as traversal and the set view do."""
import time

import jwt
import pytest
import webtest
from ZODB.POSException import POSKeyError

from myproject import main
from myproject.generationalset import GSet
from myproject.resources import Site
from myproject.views import poll

from .conftest import _close, app_settings, auth, make_user, site_of

SECRET = "a-test-secret-for-hs256-tokens-only"


def settings(tmp_path, **overrides):
    return app_settings(tmp_path, **{"myproject.jwt.secret": SECRET},
                        **overrides)


@pytest.fixture
def apps(tmp_path):
    """The same database served with the shortcut (and, in turn, without)."""
    fast = main({}, **settings(tmp_path))
    tokens = {name: make_user(fast, name) for name in ("alice", "bob")}
    tokens["root"] = make_user(fast, "root", admin=True)
    tokens["jwt"] = jwt.encode({"sub": "alice", "exp": int(time.time()) + 300},
                               SECRET, algorithm="HS256")
    tokens["jwt-carol"] = jwt.encode(
        {"sub": "carol", "exp": int(time.time()) + 300}, SECRET,
        algorithm="HS256")
    _close(fast)
    fast = main({}, **settings(tmp_path))
    yield fast, tokens
    _close(fast)


@pytest.fixture
def answered(monkeypatch):
    """Record the polls the shortcut answered itself: a status, or the
    exception its answer raised (then rendered by the exception views)."""
    seen = []
    real = poll._poll

    def spy(request, user):
        try:
            response = real(request, user)
        except Exception as e:
            seen.append(type(e).__name__)
            raise
        seen.append(response.status_int)
        return response

    monkeypatch.setattr(poll, "_poll", spy)
    return seen


def slow_answer(tmp_path, apps, path, headers):
    fast, _ = apps
    _close(fast)  # one process at a time on a FileStorage
    slow = main({}, **settings(
        tmp_path, **{"myproject.poll_fast_path": "false"}))
    try:
        return webtest.TestApp(slow).get(path, headers=headers, status="*")
    finally:
        _close(slow)


CASES = [
    # (token name, path, extra headers, what the shortcut answered:
    #  a status, an exception it raised, or None: left to traversal)
    ("alice", "/users/alice?generation=3", {}, 200),
    ("alice", "/users/alice", {"X-Generation": "3"}, 200),
    ("alice", "/users/alice", {"If-None-Match": '"3"'}, 304),
    ("alice", "/users/alice?generation=2", {"If-None-Match": '"3"'}, 304),
    ("alice", "/users/alice?generation=2", {}, 200),
    ("alice", "/users/alice?generation=0", {}, 200),
    ("alice", "/users/alice", {}, 200),
    ("alice", "/users/alice?generation=4", {}, 200),
    ("alice", "/users/alice?generation=x", {}, "HTTPBadRequest"),
    ("alice", "/users/alice", {"X-Generation": "-1"}, "HTTPBadRequest"),
    ("alice", "/users/alice?generation=%ff", {}, "HTTPBadRequest"),
    ("alice", "/users/alice?generation=3&x=1", {}, 200),
    ("alice", "/users/alice?generation=3", {"If-None-Match": 'W/"3"'}, 304),
    ("alice", "/users/alice?generation=3", {"If-None-Match": '"2"'}, 200),
    ("alice", "/users/alice?generation=3", {"If-None-Match": '"3", "4"'},
     304),
    ("alice", "/users/alice?generation=3", {"If-None-Match": "*"}, 304),
    ("jwt", "/users/alice?generation=3", {}, 200),
    ("root", "/users/alice?generation=3", {}, 200),
    ("alice", "/users/bob?generation=3", {}, None),
    ("jwt", "/users/bob?generation=3", {}, None),
    ("jwt-carol", "/users/alice?generation=3", {}, None),
    ("bogus", "/users/alice?generation=3", {}, None),
    (None, "/users/alice?generation=3", {}, None),
    ("alice", "/users/nobody?generation=3", {}, None),
]


@pytest.mark.parametrize("who, path, headers, expected", CASES)
def test_the_shortcut_and_traversal_answer_alike(tmp_path, apps, answered,
                                                  who, path, headers,
                                                  expected):
    fast, tokens = apps
    if who is not None:
        headers = dict(auth(tokens.get(who, "0123456789abcdef.bogus")),
                       **headers)
    # The same id for both: a made one names its process.
    headers = dict(headers, **{"X-Request-Id": "poll-1"})
    testapp = webtest.TestApp(fast)
    got = testapp.get(path, headers=headers, status="*")
    assert answered == ([] if expected is None else [expected])
    want = slow_answer(tmp_path, apps, path, headers)
    assert got.status_int == want.status_int
    assert got.body == want.body
    assert got.headerlist == want.headerlist


@pytest.mark.parametrize("path", [
    "/users/alice/", "/users//alice", "/users/alice/messages?generation=3",
    "/users/@@admin", "/users/./alice", "/users/alice/@@tokens"])
def test_other_paths_are_left_to_traversal(apps, answered, path):
    fast, tokens = apps
    webtest.TestApp(fast).get(path, headers=auth(tokens["alice"]),
                              status="*")
    assert answered == []


def test_without_the_shortcut_polls_go_through_traversal(tmp_path, answered):
    application = main({}, **settings(
        tmp_path, **{"myproject.poll_fast_path": "false"}))
    try:
        token = make_user(application, "alice")
        assert webtest.TestApp(application).get(
            "/users/alice?generation=3", headers=auth(token)).json == {
                "generation": 3}
        assert answered == []
    finally:
        _close(application)


def test_the_shortcut_records_a_token_s_use(apps, answered):
    fast, tokens = apps
    site, conn = site_of(fast)
    token_id = tokens["alice"].partition(".")[0]
    assert site.users["alice"].tokens[token_id].last_used is None
    conn.close()
    webtest.TestApp(fast).get("/users/alice?generation=3",
                              headers=auth(tokens["alice"]))
    assert answered == [200]
    site, conn = site_of(fast)
    assert site.users["alice"].tokens[token_id].last_used is not None
    conn.close()


def test_a_user_created_by_a_refused_jwt_is_not_kept(apps, answered):
    fast, tokens = apps
    webtest.TestApp(fast).get("/users/alice", headers=auth(tokens["jwt-carol"]),
                              status=403)
    site, conn = site_of(fast)
    assert "carol" not in site.users
    conn.close()


def test_a_revoked_token_is_refused(apps, answered):
    fast, tokens = apps
    testapp = webtest.TestApp(fast)
    testapp.get("/users/alice", headers=auth(tokens["alice"]))
    token_id = tokens["alice"].partition(".")[0]
    testapp.delete(f"/users/alice/@@tokens/{token_id}",
                   headers=auth(tokens["root"]))
    answered.clear()
    testapp.get("/users/alice?generation=3", headers=auth(tokens["alice"]),
                status=401)
    assert answered == []


def test_after_a_write_the_shortcut_sees_the_new_generation(apps, answered):
    fast, tokens = apps
    testapp = webtest.TestApp(fast)
    headers = auth(tokens["alice"])
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    assert testapp.get("/users/alice?generation=4", headers=headers).json == {
        "generation": 4}
    assert testapp.get("/users/alice?generation=3", headers=headers).json == {
        "generation": 4,
        "adds": [{"set": "messages", "adds": [{"id": "m1"}]}]}
    assert answered == [200, 200]


@pytest.mark.parametrize("fast_path", ["true", "false"])
@pytest.mark.parametrize("broken", ["updates", "token"])
def test_a_storage_error_in_a_poll_is_the_json_500(tmp_path, monkeypatch,
                                                   fast_path, broken):
    application = main({}, **settings(
        tmp_path, **{"myproject.poll_fast_path": fast_path}))
    try:
        token = make_user(application, "alice")

        def lost(*args, **kwargs):
            raise POSKeyError(b"\0" * 8)

        if broken == "updates":
            monkeypatch.setattr(GSet, "generational_updates", lost)
        else:
            monkeypatch.setattr(Site, "user_for_token", lost)
        r = webtest.TestApp(application).get(
            "/users/alice?generation=0", headers=auth(token), status=500)
        assert r.content_type == "application/json"
        assert r.json == {"error": "internal_server_error",
                          "detail": "the server failed; nothing was saved"}
    finally:
        _close(application)


def test_a_conflict_in_a_poll_is_retried(apps, answered, monkeypatch):
    from ZODB.POSException import ConflictError
    fast, tokens = apps
    real = GSet.generational_updates
    calls = []

    def conflicting_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConflictError()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GSet, "generational_updates", conflicting_once)
    r = webtest.TestApp(fast).get("/users/alice?generation=0",
                                  headers=auth(tokens["alice"]))
    assert r.json["generation"] == 3
    assert answered == ["ConflictError", 200]


def test_the_shortcut_sees_commits_of_another_process_at_once(
        tmp_path, postgresql_dsn, answered):
    """Two apps on one RelStorage database stand for two processes."""
    from .storage import zodb_uri_for
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    config = app_settings(tmp_path, **{"zodbconn.uri": uri})
    writer, poller = main({}, **config), main({}, **config)
    try:
        token = make_user(writer, "alice")
        writes, polls = webtest.TestApp(writer), webtest.TestApp(poller)
        headers = auth(token)
        for n in range(5):
            generation = polls.get("/users/alice", headers=headers).json[
                "generation"]
            writes.post_json("/users/alice/messages", {"id": f"m{n}"},
                             headers=headers)
            assert polls.get(f"/users/alice?generation={generation}",
                             headers=headers).json["generation"] == (
                generation + 1)
        assert answered == [200] * 10  # every poll took the shortcut
    finally:
        _close(writer)
        _close(poller)
