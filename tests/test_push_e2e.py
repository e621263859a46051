"""Pushes end to end: HTTP write -> commit -> dispatcher -> fake APNs/FCM."""
import time

import pytest
import webtest

from myproject import main
from myproject.push.apns import collapse_id

from .conftest import _close, app_settings, auth, make_user
from .push.fakes import (
    HANG,
    Answer,
    FakeAPNs,
    FakeFCM,
    eventually,
    push_settings,
    write_apns_key,
)

IPHONE = "a1" * 32
PIXEL = "fcm-token:APA91b-pixel"


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("push-e2e")
    with FakeAPNs() as apns, FakeFCM() as fcm:
        files = {
            "apns_key_file": str(folder / "AuthKey.p8"),
            "ca_file": apns.write_ca(folder / "ca.pem"),
            "service_account_file": fcm.write_service_account(
                folder / "service-account.json"),
        }
        write_apns_key(files["apns_key_file"])
        yield apns, fcm, files


@pytest.fixture
def push_app(tmp_path, fakes):
    apns, fcm, files = fakes
    apns.reset()
    fcm.reset()
    settings = app_settings(tmp_path, **push_settings(
        apns=apns, fcm=fcm, coalesce_window="0", **files))
    application = main({}, **settings)
    yield application
    _close(application)


@pytest.fixture
def testapp(push_app):
    return webtest.TestApp(push_app)


def register(testapp, user, bearer, platform, token):
    testapp.post_json(f"/users/{user}/@@devices",
                      {"platform": platform, "token": token},
                      headers=auth(bearer), status=201)


def drain(app):
    """Stop the app's dispatcher after it sent everything it was given."""
    app.registry.push_service.stop()
    return app.registry.push_dispatcher.stats()


def test_a_write_pushes_each_device_once_silently(push_app, testapp, fakes):
    apns, fcm, _ = fakes
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    register(testapp, "alice", alice, "fcm", PIXEL)
    generation = testapp.post_json(
        "/users/alice/messages?generation=0", {"id": "m1"},
        headers=auth(alice)).json["updates"]["generation"]
    apns.wait_for_requests(1)
    fcm.wait_for_requests(1)
    assert drain(push_app)["sent"] == 2
    [push] = apns.requests_for(IPHONE)
    assert push.path == f"/3/device/{IPHONE}"
    assert push.headers["apns-push-type"] == "background"
    assert push.headers["apns-priority"] == "5"
    assert push.headers["apns-collapse-id"] == collapse_id("alice")
    assert push.body == {"aps": {"content-available": 1},
                         "generation": generation}
    [message] = fcm.requests_for(PIXEL)
    data = message.body["message"]["data"]
    assert data == {"type": "sync", "generation": str(generation)}
    assert "notification" not in message.body["message"]


def test_registering_a_device_sends_nothing(push_app, testapp, fakes):
    apns, _, _ = fakes
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    drain(push_app)
    assert apns.requests == []


def test_a_410_removes_the_device_from_the_user(push_app, testapp, fakes):
    apns, _, _ = fakes
    apns.answer(IPHONE, Answer(410, "Unregistered"))
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    eventually(lambda: testapp.get("/users/alice/@@devices",
                                   headers=auth(alice)).json["devices"] == [])
    assert drain(push_app)["pruned"] == 1


def test_two_503s_then_200_deliver_once(push_app, testapp, fakes):
    apns, _, _ = fakes
    apns.answer(IPHONE, 503, 503, 200)
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    apns.wait_for_requests(3)
    stats = drain(push_app)
    assert len(apns.requests_for(IPHONE)) == 3
    assert (stats["sent"], stats["retried"], stats["failed"]) == (1, 2, 0)


def test_writes_do_not_wait_for_a_push_service_that_hangs(push_app, testapp,
                                                          fakes):
    apns, _, _ = fakes
    apns.answer(IPHONE, HANG)
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    started = time.monotonic()
    for i in range(10):
        testapp.post_json("/users/alice/messages", {"id": f"m{i}"},
                          headers=auth(alice), status=201)
    elapsed = time.monotonic() - started
    # One APNs answer may take apns.timeout (2 s); ten writes took less than
    # that in all, so none of them waited for a push.
    assert elapsed < 2.0, elapsed
    apns.wait_for_requests(1)


def test_an_aborted_request_sends_nothing(push_app, testapp, fakes):
    apns, _, _ = fakes
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    apns.wait_for_requests(1)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice), status=409)
    testapp.post_json("/users/alice/messages?generation=x", {"id": "m2"},
                      headers=auth(alice), status=400)
    assert drain(push_app)["sent"] == 1
    assert len(apns.requests) == 1


def test_a_retried_conflict_pushes_once(push_app, testapp, fakes,
                                        monkeypatch):
    from ZODB.POSException import ConflictError

    from myproject.documents import Document

    apns, _, _ = fakes
    alice = make_user(push_app, "alice")
    register(testapp, "alice", alice, "apns", IPHONE)
    real, attempts = Document.place, []

    def conflict_after_changing(self, s):
        real(self, s)  # the tree changed in this attempt...
        attempts.append(1)
        if len(attempts) == 1:
            raise ConflictError()  # ...and the attempt is thrown away

    monkeypatch.setattr(Document, "place", conflict_after_changing)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    assert len(attempts) == 2
    apns.wait_for_requests(1)
    assert drain(push_app)["sent"] == 1
    [push] = apns.requests
    assert push.body["generation"] == 4


def test_one_edit_of_a_shared_document_pushes_every_holder_once(
        push_app, testapp, fakes):
    apns, _, _ = fakes
    tokens = {}
    for n, name in enumerate(("alice", "bob", "carol")):
        tokens[name] = make_user(push_app, name)
        register(testapp, name, tokens[name], "apns", f"{n:02d}" * 32)
    testapp.post_json("/users/alice/messages", {"id": "m1", "v": 1},
                      headers=auth(tokens["alice"]))
    testapp.post_json("/users/alice/messages/m1/@@share",
                      {"users": ["bob", "carol"]},
                      headers=auth(tokens["alice"]))
    apns.wait_for_requests(3)  # alice's post, then the share: bob, carol
    seen = len(apns.requests)
    testapp.patch_json("/users/alice/messages/m1", {"v": 2},
                       headers=auth(tokens["alice"]))
    apns.wait_for_requests(seen + 3)
    drain(push_app)
    after_edit = apns.requests[seen:]
    assert sorted(r.token for r in after_edit) == [
        f"{n:02d}" * 32 for n in range(3)]
    assert {r.headers["apns-collapse-id"] for r in after_edit} == {
        collapse_id(name) for name in ("alice", "bob", "carol")}
