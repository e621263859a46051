"""APNs pushes through the real aioapns client to the fake APNs (HTTP/2, TLS)."""
import time

import jwt
import pytest

from myproject.push import Device
from myproject.push.sender import collapse_id

from .fakes import HANG, Answer, FakeAPNs, eventually, free_port

TOKEN = "a1" * 32


def settled(dispatcher):
    eventually(lambda: dispatcher.stats()["queue_depth"] == 0)
    return dispatcher.stats()


def test_a_push_is_a_silent_background_push_with_the_generation(
        make_dispatcher, fake_apns, push_files):
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 42, [Device("apns", TOKEN)])
    [request] = fake_apns.wait_for_requests(1)

    assert request.protocol == "h2"
    assert request.path == f"/3/device/{TOKEN}"
    headers = request.headers
    assert headers[":method"] == "POST"
    assert headers["apns-push-type"] == "background"
    assert headers["apns-priority"] == "5"
    assert headers["apns-topic"] == "org.example.sync"
    assert headers["apns-collapse-id"] == collapse_id("alice")
    assert "apns-expiration" not in headers
    assert request.body == {"aps": {"content-available": 1}, "generation": 42}

    scheme, token = headers["authorization"].split(" ", 1)
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token)["kid"] == "KEYID12345"
    claims = jwt.decode(token, push_files["apns_public_key"],
                        algorithms=["ES256"])
    assert claims["iss"] == "TEAMID1234"
    assert abs(claims["iat"] - time.time()) < 60
    assert settled(dispatcher)["sent"] == 1


def test_collapse_ids_are_per_user_and_fit_apns_limit():
    assert collapse_id("alice") == collapse_id("alice")
    assert collapse_id("alice") != collapse_id("bob")
    long_id = "ü" * 500
    assert len(collapse_id(long_id).encode("utf-8")) <= 64
    assert collapse_id(long_id).isascii()


@pytest.mark.parametrize("answer", [
    Answer(410, "Unregistered"),
    Answer(410, "ExpiredToken"),
    Answer(400, "BadDeviceToken"),
    Answer(400, "DeviceTokenNotForTopic"),
])
def test_dead_tokens_are_pruned(make_dispatcher, fake_apns, pruned, answer):
    fake_apns.answer(TOKEN, answer)
    device = Device("apns", TOKEN)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [device])
    eventually(lambda: pruned)
    stats = settled(dispatcher)
    assert [(user, dev) for user, dev, _ in pruned] == [("alice", device)]
    assert (stats["pruned"], stats["sent"], stats["failed"]) == (1, 0, 0)
    assert len(fake_apns.requests) == 1


def test_two_503s_then_200_deliver_exactly_once(make_dispatcher, fake_apns):
    fake_apns.answer(TOKEN, 503, 503, 200)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 7, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["sent"], stats["retried"], stats["failed"]) == (1, 2, 0)
    requests = fake_apns.requests
    assert len(requests) == 3
    assert len({r.headers["apns-id"] for r in requests}) == 3
    assert all(r.body["generation"] == 7 for r in requests)


@pytest.mark.parametrize("status", [429, 500])
def test_throttling_and_server_errors_are_retried(
        make_dispatcher, fake_apns, status):
    fake_apns.answer(TOKEN, status, 200)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["sent"], stats["retried"]) == (1, 1)
    assert len(fake_apns.requests) == 2


def test_persistent_503s_give_up_after_max_attempts(make_dispatcher, fake_apns):
    fake_apns.answer(TOKEN, 503)
    dispatcher = make_dispatcher(max_attempts=3)
    dispatcher.submit("alice", 1, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["sent"], stats["retried"], stats["failed"]) == (0, 2, 1)
    assert len(fake_apns.requests) == 3


@pytest.mark.parametrize("answer", [
    Answer(400, "BadCollapseId"),
    Answer(403, "InvalidProviderToken"),
    Answer(413, "PayloadTooLarge"),
])
def test_other_client_errors_are_given_up_at_once(
        make_dispatcher, fake_apns, pruned, answer, caplog):
    fake_apns.answer(TOKEN, answer)
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert (stats["failed"], stats["retried"], stats["pruned"]) == (1, 0, 0)
    assert len(fake_apns.requests) == 1
    assert pruned == []
    assert answer.reason in caplog.text


def test_an_unanswered_push_times_out_and_is_retried(make_dispatcher, fake_apns):
    fake_apns.answer(TOKEN, HANG, 200)
    dispatcher = make_dispatcher(**{"apns.timeout": "0.2"})
    began = time.monotonic()
    dispatcher.submit("alice", 1, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert time.monotonic() - began < 2
    assert (stats["sent"], stats["retried"]) == (1, 1)
    assert len(fake_apns.requests) == 2


def test_a_closed_connection_is_replaced(make_dispatcher, fake_apns):
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 1, [Device("apns", TOKEN)])
    fake_apns.wait_for_requests(1)
    settled(dispatcher)
    fake_apns.drop_connections()
    dispatcher.submit("alice", 2, [Device("apns", TOKEN)])
    stats = settled(dispatcher)
    assert stats["sent"] == 2
    assert [r.body["generation"] for r in fake_apns.requests][-1] == 2


def test_each_environment_has_its_own_server(
        make_dispatcher, fake_apns, apns_server):
    with FakeAPNs(ca=apns_server.ca) as sandbox:
        dispatcher = make_dispatcher(**{"apns.sandbox_server": sandbox.address})
        dispatcher.submit("alice", 1, [
            Device("apns", "prod-token"),
            Device("apns", "dev-token", environment="sandbox")])
        settled(dispatcher)
        assert [r.token for r in fake_apns.requests] == ["prod-token"]
        assert [r.token for r in sandbox.requests] == ["dev-token"]


def test_the_sandbox_flag_sends_every_device_to_the_sandbox(
        make_dispatcher, fake_apns, apns_server):
    with FakeAPNs(ca=apns_server.ca) as sandbox:
        dispatcher = make_dispatcher(**{
            "apns.sandbox_server": sandbox.address, "apns.sandbox": "true"})
        dispatcher.submit("alice", 1, [Device("apns", "prod-token")])
        settled(dispatcher)
        assert fake_apns.requests == []
        assert [r.token for r in sandbox.requests] == ["prod-token"]


def test_with_apns_down_submit_returns_at_once_and_the_push_fails_later(
        make_dispatcher):
    dispatcher = make_dispatcher(**{
        "apns.server": f"127.0.0.1:{free_port()}", "apns.timeout": "0.3",
        "max_attempts": "2"})
    durations = []
    for n in range(200):
        began = time.perf_counter()
        dispatcher.submit(f"user-{n}", 1, [Device("apns", TOKEN)])
        durations.append(time.perf_counter() - began)
    assert max(durations) < 0.05
    assert sum(durations) < 0.2
    stats = eventually(lambda: (s := dispatcher.stats())["failed"] == 200 and s,
                       timeout=10)
    assert (stats["sent"], stats["retried"], stats["queue_depth"]) == (0, 200, 0)


def test_a_burst_of_twenty_commits_sends_one_push_per_device(
        make_dispatcher, fake_apns, fake_fcm):
    devices = [Device("apns", "phone"), Device("apns", "watch"),
               Device("fcm", "android")]
    dispatcher = make_dispatcher(coalesce_window="0.5")
    for generation in range(1, 21):
        dispatcher.submit("alice", generation, devices)
        time.sleep(0.005)                  # commits spread over ~0.1 s
    stats = settled(dispatcher)
    assert sorted((r.token, r.body["generation"])
                  for r in fake_apns.requests) == [("phone", 20), ("watch", 20)]
    assert [(r.token, r.body["message"]["data"]["generation"])
            for r in fake_fcm.requests] == [("android", "20")]
    assert stats["sent"] == 3


def test_error_answers_keep_flowing_on_a_long_lived_connection(
        make_dispatcher, fake_apns, pruned):
    # Each answer body takes flow-control credit from the connection's
    # 64 KiB receive window; it must be handed back, or APNs stalls.
    long_reason = "Unregistered" + " " * 2000
    tokens = [f"{n:064x}" for n in range(100)]
    for token in tokens:
        fake_apns.answer(token, Answer(410, long_reason))
    dispatcher = make_dispatcher(**{
        "apns.pool_size": "1", "apns.timeout": "1", "max_attempts": "1"})
    for n, token in enumerate(tokens):
        dispatcher.submit(f"user-{n}", 1, [Device("apns", token)])
    stats = eventually(
        lambda: (s := dispatcher.stats())["queue_depth"] == 0 and s)
    assert (stats["pruned"], stats["failed"]) == (100, 0)
    assert len(pruned) == 100
