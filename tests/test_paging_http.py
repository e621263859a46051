"""Paged polls over HTTP: ``limit``, ``more``, the cursor, resuming, 400s."""
import pytest
import webtest

from myproject import main
from myproject.client import EMPTY, apply_json_updates

from .conftest import _close, app_settings, auth, make_user


@pytest.fixture
def paged(tmp_path):
    """An app with small pages (4, at most 10), alice with 10 messages."""
    app = main({}, **app_settings(tmp_path, **{
        "myproject.sync.page_size": "4",
        "myproject.sync.max_page_size": "10"}))
    token = make_user(app, "alice")
    testapp = webtest.TestApp(app)
    for i in range(10):
        testapp.post_json("/users/alice/messages", {"id": f"m{i}", "n": i},
                          headers=auth(token), status=201)
    yield testapp, token
    _close(app)


def get(testapp, token, query, status=200, path="/users/alice", headers=()):
    return testapp.get(f"{path}?{query}", status=status,
                       headers={**auth(token), **dict(headers)})


def follow(testapp, token, state, limit=None, path="/users/alice"):
    """Page until the answer has no more; return (state, pages)."""
    pages = []
    while True:
        query = f"generation={state['generation']}"
        if limit is not None:
            query += f"&limit={limit}"
        answer = get(testapp, token, query, path=path).json
        pages.append(answer)
        state = apply_json_updates(state, answer)
        if not answer.get("more"):
            return state, pages


def whole(testapp, token, path="/users/alice"):
    return follow(testapp, token, EMPTY, limit=10, path=path)[0]


def count(entry):
    items = entry.get("adds", entry.get("contents", []))
    return len(entry.get("removals", [])) + sum(
        1 + (count(i) if "set" in i else 0) for i in items)


@pytest.mark.parametrize("fast_path", ["true", "false"])
def test_the_default_page_size_applies_and_pages_follow_to_the_end(
        tmp_path, fast_path):
    app = main({}, **app_settings(tmp_path, **{
        "myproject.sync.page_size": "4",
        "myproject.poll_fast_path": fast_path}))
    token = make_user(app, "alice")
    testapp = webtest.TestApp(app)
    for i in range(10):
        testapp.post_json("/users/alice/messages", {"id": f"m{i}"},
                          headers=auth(token), status=201)
    first = get(testapp, token, "generation=0")
    assert first.json["more"] is True and count(first.json) == 4
    # The ETag of a page names its cursor, never the tree's generation.
    assert first.headers["ETag"] == f'"{first.json["generation"]}"'
    state, pages = follow(testapp, token, EMPTY)
    assert "more" not in pages[-1]
    assert all(count(p) <= 4 for p in pages)
    ids = sorted(state["contents"]["messages"])
    assert ids == sorted(f"m{i}" for i in range(10))
    final = get(testapp, token, f"generation={state['generation']}")
    assert final.json == {"generation": state["generation"]}
    _close(app)


def test_a_page_answers_with_a_cursor_and_more(paged):
    testapp, token = paged
    answer = get(testapp, token, "generation=0&limit=3").json
    # The empty "tasks" set (1), "messages" (1) with its first document.
    assert answer["more"] is True
    assert answer["adds"] == [{"set": "tasks"}, {"set": "messages", "adds": [
        {"id": "m0", "n": 0}]}]
    cursor = answer["generation"]
    again = get(testapp, token, f"generation={cursor}&limit=3").json
    assert again["adds"] == [{"set": "messages", "adds": [
        {"id": "m1", "n": 1}, {"id": "m2", "n": 2}]}]
    assert again["generation"] > cursor


def test_a_sync_resumes_after_the_tree_changed_between_pages(paged):
    testapp, token = paged
    state = apply_json_updates(
        EMPTY, get(testapp, token, "generation=0&limit=5").json)
    held = dict(state["contents"]["messages"])
    assert "m0" in held and len(held) < 10
    testapp.put_json("/users/alice/messages/m0", {"id": "m0", "n": 100},
                     headers=auth(token))
    testapp.delete("/users/alice/messages/m9", headers=auth(token))
    testapp.post_json("/users/alice/tasks", {"id": "t1"},
                      headers=auth(token), status=201)
    state, _ = follow(testapp, token, state, limit=5)
    assert state == whole(testapp, token)
    assert state["contents"]["messages"]["m0"] == {"id": "m0", "n": 100}
    assert "m9" not in state["contents"]["messages"]


def test_generation_zero_pages_carry_no_removals(paged):
    testapp, token = paged
    testapp.post_json("/users/alice/tasks", {"id": "gone"},
                      headers=auth(token), status=201)
    testapp.delete("/users/alice/tasks/gone", headers=auth(token))
    at_zero = get(testapp, token, "generation=0&limit=10",
                  path="/users/alice/tasks").json
    assert at_zero == {"generation": at_zero["generation"]}
    # A client that held it is told.
    before = at_zero["generation"] - 1
    assert get(testapp, token, f"generation={before}&limit=10",
               path="/users/alice/tasks").json["removals"] == ["gone"]


def test_a_set_pages_on_its_own(paged):
    testapp, token = paged
    state, pages = follow(testapp, token, EMPTY, limit=3,
                          path="/users/alice/messages")
    assert len(pages) >= 4
    assert sorted(state["contents"]) == sorted(f"m{i}" for i in range(10))


def test_a_write_answers_with_paged_updates(paged):
    testapp, token = paged
    answer = testapp.post_json("/users/alice/tasks?generation=0&limit=2",
                               {"id": "t1"}, headers=auth(token),
                               status=201).json
    updates = answer["updates"]
    assert updates["more"] is True and count(updates) <= 2
    state = apply_json_updates(EMPTY, updates)
    state, _ = follow(testapp, token, state, limit=10)
    assert state == whole(testapp, token)


def test_an_up_to_date_client_still_gets_304(paged):
    testapp, token = paged
    state = whole(testapp, token)
    etag = f'"{state["generation"]}"'
    get(testapp, token, f"generation={state['generation']}&limit=3",
        status=304, headers={"If-None-Match": etag})


@pytest.mark.parametrize("limit, detail", [
    ("11", "limit must be at most 10"),
    ("0", "limit must be a positive integer"),
    ("-3", "limit must be a positive integer"),
    ("two", "limit must be a positive integer"),
    ("", "limit must be a positive integer"),
])
def test_a_bad_limit_is_a_400_that_says_why(paged, limit, detail):
    testapp, token = paged
    for path in ("/users/alice", "/users/alice/messages"):
        answer = get(testapp, token, f"generation=0&limit={limit}",
                     status=400, path=path).json
        assert answer["error"] == "bad_request"
        assert detail in answer["detail"]


def test_a_bad_limit_is_refused_before_anything_is_written(paged):
    testapp, token = paged
    before = whole(testapp, token)
    testapp.post_json("/users/alice/tasks?generation=0&limit=99",
                      {"id": "t9"}, headers=auth(token), status=400)
    assert whole(testapp, token) == before
