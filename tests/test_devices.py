"""Registering push devices through the API."""
import pytest

from .conftest import auth, site_of


@pytest.fixture(params=["file", "postgresql"])
def storage(request):
    """Every API test here runs on FileStorage and on RelStorage."""
    return request.param


APNS_TOKEN = "a" * 64


def register(testapp, user, bearer, status=201, **body):
    body = dict({"platform": "apns", "token": APNS_TOKEN}, **body)
    return testapp.post_json(f"/users/{user}/@@devices", body,
                             headers=auth(bearer), status=status)


def test_a_user_registers_lists_and_unregisters_a_device(testapp, alice):
    device = register(testapp, "alice", alice,
                      environment="sandbox").json["device"]
    assert device["platform"] == "apns"
    assert device["environment"] == "sandbox"
    listed = testapp.get("/users/alice/@@devices", headers=auth(alice)).json
    assert [d["token"] for d in listed["devices"]] == [APNS_TOKEN]
    testapp.delete(f"/users/alice/@@devices/{APNS_TOKEN}",
                   headers=auth(alice))
    assert testapp.get("/users/alice/@@devices",
                       headers=auth(alice)).json == {"devices": []}
    testapp.delete(f"/users/alice/@@devices/{APNS_TOKEN}",
                   headers=auth(alice), status=404)


def test_devices_are_outside_the_synced_tree(testapp, alice):
    register(testapp, "alice", alice)
    assert testapp.get("/users/alice?generation=3",
                       headers=auth(alice)).json == {"generation": 3}


def test_a_token_registered_by_a_second_user_moves_to_it(testapp, alice, bob,
                                                         app):
    register(testapp, "alice", alice)
    register(testapp, "bob", bob)
    assert testapp.get("/users/alice/@@devices",
                       headers=auth(alice)).json == {"devices": []}
    site, conn = site_of(app)
    assert site.devices[APNS_TOKEN] == "bob"
    conn.close()


def test_device_input_is_checked(testapp, alice):
    register(testapp, "alice", alice, status=422, platform="sms")
    register(testapp, "alice", alice, status=422, token="")
    register(testapp, "alice", alice, status=422, token="x" * 513)
    register(testapp, "alice", alice, status=422, token="a/b")
    for odd in (".", "..", "a b", "a'b", "a\"b", "a.b", "\u0085x", "é"):
        register(testapp, "alice", alice, status=422, token=odd)
    register(testapp, "alice", alice, status=422, platform="fcm",
             token="fcm-token", environment="sandbox")  # APNs only
    register(testapp, "alice", alice, status=201, platform="fcm",
             token="cX_y-Z:APA91b" + "q" * 100)
    register(testapp, "alice", alice, status=201, platform="fcm",  # as read
             token="fcm-token", environment="production")
    register(testapp, "alice", alice, status=422, token=42)
    register(testapp, "alice", alice, status=422, environment="staging")


def test_devices_per_user_are_limited(tmp_path):
    import webtest

    from myproject import main

    from .conftest import _close, app_settings, make_user
    application = main({}, **app_settings(
        tmp_path, **{"myproject.push.max_devices": "2"}))
    try:
        testapp = webtest.TestApp(application)
        token = make_user(application, "alice")
        register(testapp, "alice", token, token="t1")
        register(testapp, "alice", token, token="t2")
        register(testapp, "alice", token, token="t2")  # re-registering is fine
        register(testapp, "alice", token, token="t3", status=409)
    finally:
        _close(application)


def test_other_users_devices_are_out_of_reach(testapp, alice, bob):
    register(testapp, "bob", bob)
    testapp.get("/users/bob/@@devices", headers=auth(alice), status=403)
    register(testapp, "bob", alice, status=403, token="b" * 64)
    testapp.delete(f"/users/bob/@@devices/{APNS_TOKEN}", headers=auth(alice),
                   status=403)


def test_deleting_a_user_forgets_its_devices(testapp, alice, admin_token, app):
    register(testapp, "alice", alice)
    testapp.delete("/users/alice", headers=auth(admin_token))
    site, conn = site_of(app)
    assert APNS_TOKEN not in site.devices
    conn.close()


def test_admins_read_the_push_counters_as_json(testapp, admin_token, alice):
    testapp.get("/@@push", headers=auth(alice), status=403)
    testapp.get("/@@push", status=401)
    body = testapp.get("/@@push", headers=auth(admin_token)).json
    assert body["configured"] is True
    assert body["senders"] == {"apns": "log", "fcm": "log"}
    assert set(body["stats"]) == {"sent", "failed", "retried", "pruned",
                                  "dropped", "queue_depth"}


def test_the_push_counters_count_what_the_log_sender_sent(testapp,
                                                          admin_token, alice):
    from .push.fakes import eventually

    register(testapp, "alice", alice)
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(alice))
    eventually(lambda: testapp.get("/@@push", headers=auth(admin_token))
               .json["stats"]["sent"] == 1)
