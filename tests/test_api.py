"""The JSON sync API through WebTest, on FileStorage and on RelStorage."""
import pytest

from myproject.client import EMPTY, apply_json_updates

from .conftest import auth, site_of


@pytest.fixture(params=["file", "postgresql"])
def storage(request):
    """Every API test here runs on FileStorage and on RelStorage."""
    return request.param


def test_service_description_is_public(testapp):
    body = testapp.get("/").json
    assert body["service"] == "myproject"
    assert body["users"].endswith("/users")


def test_new_user_starts_with_the_configured_sets(testapp, alice):
    body = testapp.get("/users/alice", headers=auth(alice)).json
    assert body == {"generation": 3, "adds": [
        {"set": "messages"}, {"set": "tasks"}]}


def test_post_then_poll_reports_the_document(testapp, alice):
    headers = auth(alice)
    created = testapp.post_json("/users/alice/messages",
                                {"id": "m1", "text": "hi"}, headers=headers)
    assert created.status_int == 201
    assert created.location.endswith("/users/alice/messages/m1")
    assert created.json == {"document": {"id": "m1", "text": "hi"}}
    body = testapp.get("/users/alice?generation=3", headers=headers).json
    assert body == {"generation": 4, "adds": [
        {"set": "messages", "adds": [{"id": "m1", "text": "hi"}]}]}


def test_server_assigns_an_id_when_none_is_given(testapp, alice):
    doc = testapp.post_json("/users/alice/tasks", {"title": "x"},
                            headers=auth(alice)).json["document"]
    assert len(doc["id"]) == 32
    got = testapp.get(f"/users/alice/tasks/{doc['id']}", headers=auth(alice))
    assert got.json == {"document": doc}


def test_writes_carry_updates_since_the_clients_generation(testapp, alice):
    headers = auth(alice)
    testapp.post_json("/users/alice/tasks", {"id": "t1"}, headers=headers)
    answer = testapp.post_json("/users/alice/messages?generation=4",
                               {"id": "m1"}, headers=headers).json
    assert answer["updates"] == {"generation": 5, "adds": [
        {"set": "messages", "adds": [{"id": "m1"}]}]}
    answer = testapp.put_json("/users/alice/tasks/t1", {"done": True},
                              headers=dict(headers, **{"X-Generation": "5"}))
    assert answer.json == {
        "document": {"done": True, "id": "t1"},
        "updates": {"generation": 6, "adds": [
            {"set": "tasks", "adds": [{"done": True, "id": "t1"}]}]}}


def test_patch_is_a_json_merge_patch(testapp, alice):
    headers = auth(alice)
    testapp.post_json("/users/alice/tasks",
                      {"id": "t1", "title": "a", "tags": {"x": 1, "y": 2}},
                      headers=headers)
    doc = testapp.patch_json("/users/alice/tasks/t1",
                             {"title": None, "tags": {"y": None, "z": 3}},
                             headers=headers).json["document"]
    assert doc == {"id": "t1", "tags": {"x": 1, "z": 3}}


def test_delete_document_is_a_removal(testapp, alice):
    headers = auth(alice)
    testapp.post_json("/users/alice/tasks", {"id": "t1"}, headers=headers)
    answer = testapp.delete("/users/alice/tasks/t1?generation=4",
                            headers=headers).json
    assert answer == {"deleted": "t1", "updates": {"generation": 5, "adds": [
        {"set": "tasks", "removals": ["t1"]}]}}
    testapp.get("/users/alice/tasks/t1", headers=headers, status=404)


def test_sets_are_created_and_removed_at_any_depth(testapp, alice):
    headers = auth(alice)
    testapp.post_json("/users/alice/tasks", {"set": "work"}, headers=headers)
    testapp.post_json("/users/alice/tasks/work", {"set": "urgent"},
                      headers=headers)
    testapp.post_json("/users/alice/tasks/work/urgent", {"id": "u1"},
                      headers=headers)
    testapp.post_json("/users/alice", {"set": "notes"}, headers=headers)
    state = apply_json_updates(
        EMPTY, testapp.get("/users/alice", headers=headers).json)
    assert state["contents"]["tasks"] == {"work": {"urgent": {"u1": {"id": "u1"}}}}
    assert state["contents"]["notes"] == {}
    generation = state["generation"]
    testapp.delete("/users/alice/tasks/work", headers=headers)
    state = apply_json_updates(state, testapp.get(
        f"/users/alice?generation={generation}", headers=headers).json)
    assert state["contents"]["tasks"] == {}


def test_subtree_poll_gives_only_that_set(testapp, alice):
    headers = auth(alice)
    testapp.post_json("/users/alice/tasks", {"id": "t1"}, headers=headers)
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    body = testapp.get("/users/alice/tasks?generation=3", headers=headers).json
    assert body == {"generation": 5, "adds": [{"id": "t1"}]}


def test_etag_of_the_current_generation_gives_304(testapp, alice):
    headers = auth(alice)
    first = testapp.get("/users/alice?generation=0", headers=headers)
    assert first.etag == "3"
    testapp.get("/users/alice?generation=3",
                headers=dict(headers, **{"If-None-Match": '"3"'}), status=304)
    testapp.post_json("/users/alice/tasks", {"id": "t1"}, headers=headers)
    changed = testapp.get("/users/alice?generation=3",
                          headers=dict(headers, **{"If-None-Match": '"3"'}))
    assert changed.status_int == 200 and changed.etag == "4"


def test_up_to_date_poll_is_just_the_generation(testapp, alice):
    body = testapp.get("/users/alice?generation=3", headers=auth(alice)).json
    assert body == {"generation": 3}


def test_client_ahead_of_the_server_gets_contents(testapp, alice):
    body = testapp.get("/users/alice?generation=999", headers=auth(alice)).json
    assert body == {"generation": 3, "contents": [
        {"set": "messages", "contents": []}, {"set": "tasks", "contents": []}]}


def test_a_mirror_follows_every_kind_of_write(testapp, alice):
    headers = auth(alice)
    state = EMPTY

    def sync():
        nonlocal state
        state = apply_json_updates(state, testapp.get(
            f"/users/alice?generation={state['generation']}",
            headers=headers).json)

    sync()
    testapp.post_json("/users/alice/messages", {"id": "m1", "n": 1},
                      headers=headers)
    testapp.post_json("/users/alice/messages", {"set": "archive"},
                      headers=headers)
    sync()
    testapp.patch_json("/users/alice/messages/m1", {"n": 2}, headers=headers)
    testapp.post_json("/users/alice/messages/archive", {"id": "old"},
                      headers=headers)
    testapp.delete("/users/alice/messages/archive", headers=headers)
    testapp.post_json("/users/alice/messages", {"set": "archive"},
                      headers=headers)
    sync()
    assert state["contents"]["messages"] == {
        "m1": {"id": "m1", "n": 2}, "archive": {}}
    assert testapp.get(f"/users/alice?generation={state['generation']}",
                       headers=headers).json == {
        "generation": state["generation"]}


def test_a_failed_request_commits_nothing(testapp, alice, app):
    headers = auth(alice)
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers,
                      status=409)
    site, conn = site_of(app)
    assert site.users["alice"].tree.generation == 4
    conn.close()
