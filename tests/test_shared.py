"""Shared documents: one document in several users' trees."""
import pytest

from myproject.client import EMPTY, apply_json_updates
from myproject.documents import Document

from .conftest import auth, make_user, site_of


@pytest.fixture(params=["file", "postgresql"])
def storage(request):
    """Every API test here runs on FileStorage and on RelStorage."""
    return request.param


def share(testapp, token, path, users, status=200):
    return testapp.post_json(path + "/@@share", {"users": users},
                             headers=auth(token), status=status)


def mirror(testapp, user, token, state=EMPTY):
    return apply_json_updates(state, testapp.get(
        f"/users/{user}?generation={state['generation']}",
        headers=auth(token)).json)


def test_a_shared_document_reaches_every_recipient(testapp, alice, bob, app):
    carol = make_user(app, "carol")
    testapp.post_json("/users/alice/messages", {"id": "m1", "text": "hi"},
                      headers=auth(alice))
    answer = share(testapp, alice, "/users/alice/messages/m1",
                   ["bob", "carol"]).json
    assert answer["shared_with"] == ["bob", "carol"]
    for user, token in (("bob", bob), ("carol", carol)):
        state = mirror(testapp, user, token)
        assert state["contents"]["messages"] == {
            "m1": {"id": "m1", "text": "hi"}}


def test_owner_edits_and_retraction_reach_every_holder(testapp, alice, bob):
    testapp.post_json("/users/alice/messages", {"id": "m1", "v": 1},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/m1", ["bob"])
    bob_state = mirror(testapp, "bob", bob)
    testapp.patch_json("/users/alice/messages/m1", {"v": 2},
                       headers=auth(alice))
    bob_state = mirror(testapp, "bob", bob, bob_state)
    assert bob_state["contents"]["messages"]["m1"] == {"id": "m1", "v": 2}
    testapp.delete("/users/alice/messages/m1", headers=auth(alice))
    bob_state = mirror(testapp, "bob", bob, bob_state)
    assert bob_state["contents"]["messages"] == {}
    testapp.get("/users/bob/messages/m1", headers=auth(bob), status=404)


def test_a_holder_can_read_and_hide_but_not_edit(testapp, alice, bob):
    testapp.post_json("/users/alice/messages", {"id": "m1", "v": 1},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/m1", ["bob"])
    assert testapp.get("/users/bob/messages/m1", headers=auth(bob)).json == {
        "document": {"id": "m1", "v": 1}}
    testapp.put_json("/users/bob/messages/m1", {"v": 9}, headers=auth(bob),
                     status=403)
    testapp.patch_json("/users/bob/messages/m1", {"v": 9}, headers=auth(bob),
                       status=403)
    share(testapp, bob, "/users/bob/messages/m1", ["alice"], status=403)
    testapp.delete("/users/bob/messages/m1", headers=auth(bob))
    testapp.get("/users/bob/messages/m1", headers=auth(bob), status=404)
    # Hidden for bob only; alice's edits no longer reach bob.
    testapp.patch_json("/users/alice/messages/m1", {"v": 2},
                       headers=auth(alice))
    assert testapp.get("/users/alice/messages/m1", headers=auth(alice)).json[
        "document"]["v"] == 2
    assert mirror(testapp, "bob", bob)["contents"]["messages"] == {}


def test_one_edit_changes_every_holders_generation_in_one_commit(
        testapp, alice, bob, app):
    carol = make_user(app, "carol")
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/m1", ["bob", "carol"])
    before = {u: testapp.get(f"/users/{u}", headers=auth(t)).json["generation"]
              for u, t in (("alice", alice), ("bob", bob), ("carol", carol))}
    testapp.put_json("/users/alice/messages/m1", {"v": 2}, headers=auth(alice))
    after = {u: testapp.get(f"/users/{u}", headers=auth(t)).json["generation"]
             for u, t in (("alice", alice), ("bob", bob), ("carol", carol))}
    assert all(after[u] == before[u] + 1 for u in before)


def test_sharing_tells_nothing_of_the_recipients_trees(testapp, alice, bob,
                                                      app):
    """Whether bob exists, has the set, or holds another document of that
    id: the same answer, and only a recipient who can take it gets it."""
    carol = make_user(app, "carol")
    for user, token in (("alice", alice), ("bob", bob), ("carol", carol)):
        testapp.post_json(f"/users/{user}/tasks", {"set": "inner"},
                          headers=auth(token))
    testapp.post_json("/users/bob/messages", {"id": "m1", "bob's": True},
                      headers=auth(bob))
    testapp.delete("/users/bob/tasks/inner", headers=auth(bob))
    cases = {  # path shared: who can take it, who cannot and why
        "/users/alice/messages/m1": ("carol", "bob"),  # bob holds his m1
        "/users/alice/tasks/inner/t1": ("carol", "bob"),  # bob: no set
        "/users/alice/messages/m2": ("carol", "nosuch"),  # no such user
    }
    for path, (receives, cannot) in cases.items():
        testapp.post_json(path.rsplit("/", 1)[0],
                          {"id": path.rsplit("/", 1)[1]}, headers=auth(alice))
        refused = share(testapp, alice, path, [cannot])
        taken = share(testapp, alice, path, [receives])
        assert (refused.status_int, refused.headers["Content-Type"]) == (
            taken.status_int, taken.headers["Content-Type"])
        assert refused.json == dict(taken.json, shared_with=[cannot])
    assert mirror(testapp, "bob", bob)["contents"]["messages"] == {
        "m1": {"id": "m1", "bob's": True}}
    carols = mirror(testapp, "carol", carol)["contents"]
    assert set(carols["messages"]) == {"m1", "m2"}
    assert set(carols["tasks"]["inner"]) == {"t1"}


def test_sharing_with_oneself_changes_nothing(testapp, alice):
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    before = mirror(testapp, "alice", alice)
    assert share(testapp, alice, "/users/alice/messages/m1",
                 ["alice"]).json["shared_with"] == []
    assert mirror(testapp, "alice", alice) == before


def test_sharing_checks_the_request_before_changing_anything(testapp, alice,
                                                            bob):
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    for users in ([], "bob", [7], ["bob", "a/b"], ["bob", ""]):
        share(testapp, alice, "/users/alice/messages/m1", users, status=422)
    assert mirror(testapp, "bob", bob)["contents"]["messages"] == {}


def test_deleting_a_set_retracts_the_documents_its_owner_shared(
        testapp, alice, bob):
    testapp.post_json("/users/alice/messages", {"set": "outbox"},
                      headers=auth(alice))
    testapp.post_json("/users/bob/messages", {"set": "outbox"},
                      headers=auth(bob))
    testapp.post_json("/users/alice/messages/outbox", {"id": "m1"},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/outbox/m1", ["bob"])
    testapp.get("/users/bob/messages/outbox/m1", headers=auth(bob))
    testapp.delete("/users/alice/messages/outbox", headers=auth(alice))
    testapp.get("/users/bob/messages/outbox/m1", headers=auth(bob),
                status=404)


def test_a_holder_hides_a_document_shared_at_the_top_of_the_tree(
        testapp, alice, bob):
    testapp.post_json("/users/alice", {"id": "top", "x": 1},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/top", ["bob"])
    testapp.get("/users/bob/top", headers=auth(bob))
    testapp.delete("/users/bob/top", headers=auth(bob))
    testapp.get("/users/bob/top", headers=auth(bob), status=404)
    testapp.get("/users/alice/top", headers=auth(alice))


def test_deleting_the_owner_retracts_what_it_shared(testapp, alice, bob,
                                                    admin_token):
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/m1", ["bob"])
    state = mirror(testapp, "bob", bob)
    testapp.delete("/users/alice", headers=auth(admin_token))
    testapp.get("/users/bob/messages/m1", headers=auth(bob), status=404)
    assert mirror(testapp, "bob", bob, state)["contents"]["messages"] == {}


def test_deleting_a_holder_stops_the_owners_edits_reaching_it(
        testapp, alice, bob, admin_token, app):
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    share(testapp, alice, "/users/alice/messages/m1", ["bob"])
    testapp.delete("/users/bob", headers=auth(admin_token))
    testapp.patch_json("/users/alice/messages/m1", {"v": 2},
                       headers=auth(alice))
    site, conn = site_of(app)
    messages = site.users["alice"].tree["messages"]
    holders = Document.of(messages["m1"], messages).holders
    assert [s.root.id for s in holders] == ["alice"]
    conn.close()
