"""FCM pushes through the real pyfcm client to the fake FCM (HTTP v1 + OAuth)."""
import time

import pytest

from myproject.push import Device
from myproject.push.sender import collapse_id

from .fakes import HANG, Answer, FakeFCM, eventually, free_port

TOKEN = "fcm-" + "b2" * 40


def settled(dispatcher, timeout=5.0):
    eventually(lambda: dispatcher.stats()["queue_depth"] == 0, timeout)
    return dispatcher.stats()


def test_a_push_is_a_data_only_message_with_string_values(
        make_dispatcher, fake_fcm):
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 42, [Device("fcm", TOKEN)])
    [request] = fake_fcm.wait_for_requests(1)
    key = collapse_id("alice")
    assert request.path == "/v1/projects/fake-project/messages:send"
    assert request.body == {
        "message": {
            "token": TOKEN,
            "data": {"type": "sync", "generation": "42"},
            "android": {"collapse_key": key, "priority": "normal"},
            "apns": {
                "headers": {
                    "apns-priority": "5",
                    "apns-push-type": "background",
                    "apns-collapse-id": key,
                },
                "payload": {"aps": {"content-available": 1}},
            },
        },
        "validate_only": False,
    }
    assert "notification" not in request.body["message"]
    assert settled(dispatcher)["sent"] == 1


def test_the_access_token_comes_from_the_service_account_grant(
        make_dispatcher, fake_fcm):
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    [request] = fake_fcm.wait_for_requests(1)
    [grant] = fake_fcm.token_requests
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant["claims"]["scope"] == \
        "https://www.googleapis.com/auth/firebase.messaging"
    assert grant["claims"]["iss"] == \
        "push@fake-project.iam.gserviceaccount.com"
    assert request.headers["Authorization"].startswith("Bearer ya29.fake-")


def test_the_project_id_setting_wins_over_the_file(make_dispatcher, fake_fcm):
    dispatcher = make_dispatcher(**{"fcm.project_id": "other-project"})
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    [request] = fake_fcm.wait_for_requests(1)
    assert request.path == "/v1/projects/other-project/messages:send"


@pytest.mark.parametrize("answer", [
    Answer(404, "UNREGISTERED"),
    Answer(403, "SENDER_ID_MISMATCH"),
    FakeFCM.INVALID_TOKEN,
])
def test_dead_tokens_are_pruned(make_dispatcher, fake_fcm, pruned, answer):
    fake_fcm.answer(TOKEN, answer)
    device = Device("fcm", TOKEN)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [device])
    eventually(lambda: pruned)
    stats = settled(dispatcher)
    assert [(user, dev) for user, dev, _ in pruned] == [("alice", device)]
    assert (stats["pruned"], stats["failed"]) == (1, 0)
    assert len(fake_fcm.requests) == 1


@pytest.mark.parametrize("answer", [
    Answer(400, "INVALID_ARGUMENT"),
    Answer(403, "PERMISSION_DENIED", message="Permission denied."),
    Answer(404, "NOT_FOUND", message="Project not found."),
])
def test_other_client_errors_are_given_up_without_pruning(
        make_dispatcher, fake_fcm, pruned, answer):
    fake_fcm.answer(TOKEN, answer)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["failed"], stats["retried"], stats["pruned"]) == (1, 0, 0)
    assert pruned == []
    assert len(fake_fcm.requests) == 1


def test_two_503s_then_200_deliver_exactly_once(make_dispatcher, fake_fcm):
    # pyfcm's own adapter would retry 503s itself, up to ten times.
    fake_fcm.answer(TOKEN, 503, 503, 200)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["sent"], stats["retried"], stats["failed"]) == (1, 2, 0)
    assert len(fake_fcm.requests) == 3


@pytest.mark.parametrize("answer", [
    Answer(500), Answer(429, "QUOTA_EXCEEDED"), Answer(503, "UNAVAILABLE")])
def test_transient_errors_are_retried(make_dispatcher, fake_fcm, answer):
    fake_fcm.answer(TOKEN, answer, 200)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["sent"], stats["retried"]) == (1, 1)


def test_retry_after_is_honoured(make_dispatcher, fake_fcm):
    fake_fcm.answer(TOKEN, Answer(429, "QUOTA_EXCEEDED", retry_after=1), 200)
    dispatcher = make_dispatcher(backoff_max="5")
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    stats = settled(dispatcher)
    first, second = fake_fcm.requests
    assert second.received - first.received >= 1.0
    assert (stats["sent"], stats["retried"]) == (1, 1)


def test_a_retry_after_longer_than_backoff_max_gives_up(
        make_dispatcher, fake_fcm):
    fake_fcm.answer(TOKEN, Answer(503, retry_after=120), 200)
    dispatcher = make_dispatcher(backoff_max="5")
    began = time.monotonic()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    stats = settled(dispatcher)
    assert time.monotonic() - began < 2
    assert (stats["failed"], stats["sent"]) == (1, 0)
    assert len(fake_fcm.requests) == 1


def test_pyfcm_runs_off_the_event_loop(make_dispatcher, fake_fcm, fake_apns):
    fake_fcm.answer(TOKEN, HANG)
    dispatcher = make_dispatcher(**{"fcm.timeout": "1.5", "max_attempts": "1"})
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    fake_fcm.wait_for_requests(1)
    began = time.monotonic()
    dispatcher.submit("bob", 1, [Device("apns", "bob-phone")])
    fake_apns.wait_for_requests(1)
    assert time.monotonic() - began < 1.0        # FCM still hangs meanwhile
    stats = settled(dispatcher)
    assert (stats["sent"], stats["failed"]) == (1, 1)


def test_with_fcm_down_the_push_is_retried_then_given_up(make_dispatcher):
    dispatcher = make_dispatcher(**{
        "fcm.server": f"http://127.0.0.1:{free_port()}", "max_attempts": "2"})
    began = time.perf_counter()
    dispatcher.submit("alice", 1, [Device("fcm", TOKEN)])
    assert time.perf_counter() - began < 0.05
    stats = settled(dispatcher)
    assert (stats["retried"], stats["failed"], stats["sent"]) == (1, 1, 0)
