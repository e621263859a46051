"""The poll fast path answers exactly as the normal path does."""
import pytest
import webtest

from myproject import main, polls

from .conftest import _close, app_settings, auth, make_user


@pytest.fixture
def apps(tmp_path):
    """The same database served with and without the fast path."""
    fast = main({}, **app_settings(tmp_path))
    tokens = {name: make_user(fast, name) for name in ("alice", "bob")}
    tokens["root"] = make_user(fast, "root", admin=True)
    _close(fast)
    fast = main({}, **app_settings(tmp_path))
    yield fast, tokens
    _close(fast)


@pytest.fixture
def answered(monkeypatch):
    """Record what the fast path answered itself (None: passed it on)."""
    seen = []
    real = polls.PollFastPath.answer

    def spy(self, environ):
        answer = real(self, environ)
        seen.append(None if answer is None else int(answer[0][:3]))
        return answer

    monkeypatch.setattr(polls.PollFastPath, "answer", spy)
    return seen


def slow_answer(tmp_path, apps, path, headers):
    fast, _ = apps
    db = fast.registry._zodb_databases[""]
    db.close()  # one process at a time on a FileStorage
    slow = main({}, **app_settings(
        tmp_path, **{"myproject.poll_fast_path": "false"}))
    try:
        return webtest.TestApp(slow).get(path, headers=headers, status="*")
    finally:
        _close(slow)


CASES = [
    # (token name, path, extra headers, answered by the fast path)
    ("alice", "/users/alice?generation=3", {}, 200),
    ("alice", "/users/alice", {"X-Generation": "3"}, 200),
    ("alice", "/users/alice", {"If-None-Match": '"3"'}, 304),
    ("alice", "/users/alice?generation=2", {"If-None-Match": '"3"'}, 304),
    ("alice", "/users/alice?generation=2", {}, 200),
    ("alice", "/users/alice?generation=0", {}, 200),
    ("alice", "/users/alice", {}, 200),
    ("alice", "/users/alice?generation=4", {}, 200),
    ("alice", "/users/alice?generation=x", {}, None),
    ("alice", "/users/alice", {"X-Generation": "-1"}, None),
    ("alice", "/users/alice?generation=3&x=1", {}, None),
    ("alice", "/users/alice?generation=3", {"If-None-Match": 'W/"3"'}, None),
    ("alice", "/users/alice?generation=3", {"If-None-Match": '"2"'}, 200),
    ("alice", "/users/alice?generation=3", {"If-None-Match": '"3", "4"'},
     None),
    ("alice", "/users/alice/messages?generation=3", {}, None),
    ("alice", "/users/bob?generation=3", {}, None),
    ("root", "/users/alice?generation=3", {}, None),
    ("bogus", "/users/alice?generation=3", {}, None),
]


@pytest.mark.parametrize("who, path, headers, expected", CASES)
def test_fast_and_normal_paths_agree(tmp_path, apps, answered, who, path,
                                     headers, expected):
    fast, tokens = apps
    token = tokens.get(who, "0123456789abcdef.bogus")
    headers = dict(auth(token), **headers)
    testapp = webtest.TestApp(fast)
    testapp.get("/users/alice", headers=auth(tokens["alice"]))  # last use
    testapp.get("/users/bob", headers=auth(tokens["bob"]))
    answered.clear()
    got = testapp.get(path, headers=headers, status="*")
    assert answered == [expected]
    want = slow_answer(tmp_path, apps, path, headers)
    assert got.status_int == want.status_int
    assert got.body == want.body
    for name in ("ETag", "Cache-Control", "Content-Type"):
        assert got.headers.get(name) == want.headers.get(name), name


def test_a_token_due_for_recording_its_use_takes_the_normal_path(
        apps, answered):
    fast, tokens = apps
    testapp = webtest.TestApp(fast)
    testapp.get("/users/alice?generation=3", headers=auth(tokens["alice"]))
    testapp.get("/users/alice?generation=3", headers=auth(tokens["alice"]))
    assert answered == [None, 200]


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
    assert answered == [None]


def test_after_a_write_the_fast_path_sees_the_new_generation(apps, answered):
    fast, tokens = apps
    testapp = webtest.TestApp(fast)
    headers = auth(tokens["alice"])
    testapp.get("/users/alice", headers=headers)
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    answered.clear()
    assert testapp.get("/users/alice?generation=4", headers=headers).json == {
        "generation": 4}
    assert testapp.get("/users/alice?generation=3", headers=headers).json == {
        "generation": 4,
        "adds": [{"set": "messages", "adds": [{"id": "m1"}]}]}
    assert answered == [200, 200]


def test_the_fast_path_sees_commits_of_another_process_at_once(
        tmp_path, postgresql_dsn, answered):
    """Two apps on one RelStorage database stand for two processes."""
    from .storage import zodb_uri_for
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    settings = app_settings(tmp_path, **{"zodbconn.uri": uri})
    writer, poller = main({}, **settings), main({}, **settings)
    try:
        token = make_user(writer, "alice")
        writes, polls = webtest.TestApp(writer), webtest.TestApp(poller)
        headers = auth(token)
        polls.get("/users/alice", headers=headers)  # records the token's use
        answered.clear()
        for n in range(5):
            generation = polls.get("/users/alice", headers=headers).json[
                "generation"]
            writes.post_json("/users/alice/messages", {"id": f"m{n}"},
                             headers=headers)
            assert polls.get(f"/users/alice?generation={generation}",
                             headers=headers).json["generation"] == (
                generation + 1)
        assert answered == [200] * 10  # every poll took the fast path
    finally:
        _close(writer)
        _close(poller)
