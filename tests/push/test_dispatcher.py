"""The dispatcher alone, with a scripted in-memory sender (no network)."""
import asyncio
import logging
import threading
import time

import pytest

from myproject.push import Device, Dispatcher, Outcome, Result
from myproject.push.sender import SENT

from .fakes import eventually

RETRY = Result(Outcome.RETRY, 503, "ServiceUnavailable")
PRUNE = Result(Outcome.PRUNE, 410, "Unregistered")
FAIL = Result(Outcome.FAIL, 400, "BadTopic")
HANG = "hang"

PHONE = Device("apns", "phone-token")
TABLET = Device("apns", "tablet-token")
ANDROID = Device("fcm", "android-token")


class Call:
    def __init__(self, user_id, generation, device):
        self.user_id = user_id
        self.generation = generation
        self.device = device
        self.thread = threading.current_thread().name
        self.at = time.monotonic()


class ScriptedSender:
    """Answers per token from a script (results, exceptions, HANG); SENT
    by default.  ``gate`` (when given) holds every send until it is set."""

    name = "scripted"

    def __init__(self, gate=None):
        self.calls = []
        self.scripts = {}
        self.closed = False
        self.gate = gate

    def answer(self, token, *answers):
        self.scripts[token] = list(answers)

    async def send(self, user_id, generation, device):
        self.calls.append(Call(user_id, generation, device))
        if self.gate is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, self.gate.wait)
        script = self.scripts.get(device.token)
        answer = SENT
        if script:
            answer = script.pop(0) if len(script) > 1 else script[0]
        if answer == HANG:
            await asyncio.Event().wait()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def close(self):
        self.closed = True


@pytest.fixture
def sender():
    return ScriptedSender()


@pytest.fixture
def dispatchers():
    made = []
    yield made
    for dispatcher in made:
        dispatcher.stop(timeout=1)


@pytest.fixture
def start(sender, pruned, dispatchers):
    """Return ``start(**options)``: a started dispatcher using ``sender``
    for both platforms and recording prunes in ``pruned``."""
    def start(**options):
        options.setdefault("coalesce_window", 0)
        options.setdefault("backoff_base", 0.001)
        options.setdefault("backoff_max", 0.01)
        options.setdefault("prune", pruned)
        dispatcher = Dispatcher({"apns": sender, "fcm": sender}, **options)
        dispatchers.append(dispatcher)
        dispatcher.start()
        return dispatcher
    return start


def settled(dispatcher):
    """Wait until nothing waits or is in flight; return the stats."""
    eventually(lambda: dispatcher.stats()["queue_depth"] == 0)
    return dispatcher.stats()


def test_a_burst_for_one_user_gives_one_push_per_device_with_the_latest_generation(
        start, sender):
    dispatcher = start(coalesce_window=0.5)
    for generation in range(1, 21):
        dispatcher.submit("alice", generation, [PHONE, ANDROID])
        time.sleep(0.005)                  # commits spread over ~0.1 s
    stats = settled(dispatcher)
    assert sorted((c.device.token, c.generation) for c in sender.calls) == [
        ("android-token", 20), ("phone-token", 20)]
    assert stats["sent"] == 2


def test_the_latest_submit_names_the_devices(start, sender):
    dispatcher = start(coalesce_window=0.3)
    dispatcher.submit("alice", 1, [PHONE, TABLET])
    dispatcher.submit("alice", 2, [PHONE])       # tablet unregistered since
    settled(dispatcher)
    assert [(c.device, c.generation) for c in sender.calls] == [(PHONE, 2)]


def test_a_late_submit_of_an_older_generation_changes_nothing(start, sender):
    dispatcher = start(coalesce_window=0.3)
    dispatcher.submit("alice", 5, [PHONE])
    dispatcher.submit("alice", 4, [TABLET])
    settled(dispatcher)
    assert [(c.device, c.generation) for c in sender.calls] == [(PHONE, 5)]


def test_users_are_coalesced_separately(start, sender):
    dispatcher = start(coalesce_window=0.2)
    dispatcher.submit("alice", 3, [PHONE])
    dispatcher.submit("bob", 7, [TABLET])
    dispatcher.submit("alice", 4, [PHONE])
    settled(dispatcher)
    assert sorted((c.user_id, c.generation) for c in sender.calls) == [
        ("alice", 4), ("bob", 7)]


def test_the_window_delays_the_push_by_about_its_length(start, sender):
    dispatcher = start(coalesce_window=0.2)
    submitted = time.monotonic()
    dispatcher.submit("alice", 1, [PHONE])
    settled(dispatcher)
    delay = sender.calls[0].at - submitted
    assert 0.19 <= delay < 1.0


def test_without_a_window_a_device_never_gets_an_older_generation_after_a_newer(
        pruned):
    gate = threading.Event()
    sender = ScriptedSender(gate)
    dispatcher = Dispatcher({"apns": sender}, coalesce_window=0, prune=pruned)
    dispatcher.start()
    try:
        dispatcher.submit("alice", 1, [PHONE])
        eventually(lambda: sender.calls)            # generation 1 in flight
        for generation in range(2, 21):
            dispatcher.submit("alice", generation, [PHONE])
        gate.set()
        stats = settled(dispatcher)
    finally:
        gate.set()
        dispatcher.stop(timeout=1)
    assert [c.generation for c in sender.calls] == [1, 20]
    assert stats["sent"] == 2


def test_transient_failures_are_retried_and_delivered_once(start, sender):
    sender.answer("phone-token", RETRY, RETRY, SENT)
    dispatcher = start()
    dispatcher.submit("alice", 9, [PHONE])
    stats = settled(dispatcher)
    assert [c.generation for c in sender.calls] == [9, 9, 9]
    assert (stats["sent"], stats["retried"], stats["failed"]) == (1, 2, 0)


def test_a_newer_generation_rides_along_with_the_next_retry(start, sender):
    gate_first_retry = Result(Outcome.RETRY, 503, "", retry_after=0.3)
    sender.answer("phone-token", gate_first_retry, SENT)
    dispatcher = start(backoff_max=1)
    dispatcher.submit("alice", 1, [PHONE])
    eventually(lambda: sender.calls)
    dispatcher.submit("alice", 2, [PHONE])          # during the backoff
    settled(dispatcher)
    assert [c.generation for c in sender.calls] == [1, 2]


def test_retries_end_after_max_attempts(start, sender, caplog):
    sender.answer("phone-token", RETRY)
    dispatcher = start(max_attempts=3)
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert len(sender.calls) == 3
    assert (stats["sent"], stats["retried"], stats["failed"]) == (0, 2, 1)
    assert "failed 3 times" in caplog.text


def test_retries_wait_at_least_the_retry_after(start, sender):
    sender.answer("phone-token",
                  Result(Outcome.RETRY, 429, "", retry_after=0.25), SENT)
    dispatcher = start(backoff_max=1)
    dispatcher.submit("alice", 1, [PHONE])
    settled(dispatcher)
    first, second = sender.calls
    assert second.at - first.at >= 0.25


def test_a_retry_after_beyond_backoff_max_gives_up(start, sender):
    sender.answer("phone-token",
                  Result(Outcome.RETRY, 429, "", retry_after=60), SENT)
    dispatcher = start(backoff_max=1)
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert len(sender.calls) == 1
    assert (stats["failed"], stats["retried"]) == (1, 0)


def test_permanent_failures_are_not_retried(start, sender, pruned):
    sender.answer("phone-token", FAIL)
    dispatcher = start()
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert len(sender.calls) == 1
    assert (stats["failed"], stats["retried"], stats["pruned"]) == (1, 0, 0)
    assert pruned == []


def test_dead_devices_are_pruned_in_a_worker_thread(start, sender, pruned):
    sender.answer("tablet-token", PRUNE)
    dispatcher = start()
    dispatcher.submit("alice", 1, [PHONE, TABLET])
    stats = settled(dispatcher)
    assert [(user, device) for user, device, _ in pruned] == [
        ("alice", TABLET)]
    thread = pruned[0][2]
    assert thread.startswith("push-prune")
    assert sender.calls[0].thread == "push-dispatcher"
    assert (stats["pruned"], stats["sent"], stats["failed"]) == (1, 1, 0)


def test_a_prune_that_raises_is_counted_as_failed(start, sender):
    def prune(user_id, device):
        raise RuntimeError("database is down")

    sender.answer("phone-token", PRUNE)
    dispatcher = start(prune=prune)
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert (stats["pruned"], stats["failed"]) == (0, 1)
    dispatcher.submit("bob", 1, [TABLET])
    assert settled(dispatcher)["sent"] == 1


def test_a_sender_exception_does_not_kill_the_thread(start, sender, caplog):
    sender.answer("phone-token", ValueError("sender bug"))
    dispatcher = start()
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert (stats["failed"], stats["sent"]) == (1, 0)
    assert "ValueError: sender bug" in caplog.text
    dispatcher.submit("bob", 2, [TABLET])
    assert settled(dispatcher)["sent"] == 1
    assert any(t.name == "push-dispatcher" for t in threading.enumerate())


def test_connection_errors_from_a_sender_are_retried(start, sender):
    sender.answer("phone-token", ConnectionResetError(), SENT)
    dispatcher = start()
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert (stats["retried"], stats["sent"]) == (1, 1)


def test_a_send_that_hangs_times_out_and_is_retried(start, sender):
    sender.answer("phone-token", HANG, SENT)
    dispatcher = start(send_timeout=0.1)
    dispatcher.submit("alice", 1, [PHONE])
    stats = settled(dispatcher)
    assert len(sender.calls) == 2
    assert (stats["retried"], stats["sent"]) == (1, 1)


def test_a_device_of_a_platform_without_sender_fails(start, sender, caplog):
    dispatcher = start()
    dispatcher.submit("alice", 1, [Device("webpush", "w-token")])
    stats = settled(dispatcher)
    assert stats["failed"] == 1
    assert sender.calls == []
    assert "no sender for platform 'webpush'" in caplog.text


def test_a_full_queue_drops_the_submit_and_the_caller_does_not_wait(
        pruned):
    gate = threading.Event()
    sender = ScriptedSender(gate)
    dispatcher = Dispatcher({"apns": sender}, coalesce_window=0,
                            queue_size=3, prune=pruned)
    dispatcher.start()
    try:
        dispatcher.submit("alice", 1, [PHONE, TABLET])
        eventually(lambda: len(sender.calls) == 2)
        began = time.monotonic()
        dispatcher.submit("bob", 1, [PHONE, TABLET])        # 4 > 3
        took = time.monotonic() - began
        stats = dispatcher.stats()
        assert (stats["dropped"], stats["queue_depth"]) == (2, 2)
        assert took < 0.05
        dispatcher.submit("carol", 1, [PHONE])                # 3 fits
        assert dispatcher.stats()["queue_depth"] == 3
        gate.set()
        stats = settled(dispatcher)
    finally:
        gate.set()
        dispatcher.stop(timeout=1)
    assert sorted(c.user_id for c in sender.calls) == [
        "alice", "alice", "carol"]
    assert (stats["sent"], stats["dropped"]) == (3, 2)


def test_submit_never_raises(start, sender, caplog):
    dispatcher = Dispatcher({"apns": sender})
    dispatcher.submit("alice", 1, [PHONE])              # not started
    assert dispatcher.stats()["dropped"] == 1
    dispatcher = start()
    dispatcher.submit("alice", 1, None)                 # not a sequence
    dispatcher.submit("alice", 1, [])                   # nothing to do
    dispatcher.submit("alice", 1, [{"platform": "apns", "token": "t0k3n"}])
    dispatcher.stop()
    dispatcher.submit("alice", 2, [PHONE])              # stopped
    assert dispatcher.stats()["dropped"] == 1
    assert sender.calls == []
    assert caplog.text.count("push submit failed") == 2
    assert "t0k3n" not in caplog.text


def test_stop_sends_what_waits_in_a_window(start, sender):
    dispatcher = start(coalesce_window=30)
    dispatcher.submit("alice", 4, [PHONE])
    began = time.monotonic()
    dispatcher.stop(timeout=2)
    assert time.monotonic() - began < 2
    assert [c.generation for c in sender.calls] == [4]
    assert dispatcher.stats()["sent"] == 1
    assert sender.closed


def test_stop_cancels_what_is_still_running_after_its_timeout(start, sender):
    sender.answer("phone-token", HANG)
    dispatcher = start(send_timeout=60)
    dispatcher.submit("alice", 1, [PHONE])
    eventually(lambda: sender.calls)
    began = time.monotonic()
    dispatcher.stop(timeout=0.2)
    assert time.monotonic() - began < 2
    stats = dispatcher.stats()
    assert (stats["dropped"], stats["queue_depth"]) == (1, 0)
    assert not any(t.name == "push-dispatcher" and t.is_alive()
                   for t in threading.enumerate())
    assert sender.closed


def test_stats_hold_every_counter(start):
    dispatcher = start()
    assert dispatcher.stats() == {
        "sent": 0, "failed": 0, "retried": 0, "pruned": 0, "dropped": 0,
        "queue_depth": 0}


def test_submits_from_many_threads_are_all_accounted_for(start, sender):
    dispatcher = start(coalesce_window=0.05)

    def commit_loop(n):
        for generation in range(1, 51):
            dispatcher.submit(f"user-{n}", generation, [PHONE])

    threads = [threading.Thread(target=commit_loop, args=(n,))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = settled(dispatcher)
    last = {}
    for call in sender.calls:
        last[call.user_id] = call.generation
    assert last == {f"user-{n}": 50 for n in range(8)}
    assert stats["sent"] == len(sender.calls)
    assert stats["dropped"] == 0


def test_a_dispatcher_starts_once(start):
    dispatcher = start()
    with pytest.raises(RuntimeError):
        dispatcher.start()


@pytest.mark.parametrize("option", [
    {"coalesce_window": -1}, {"queue_size": 0}, {"max_attempts": 0},
    {"send_timeout": 0}])
def test_nonsense_options_are_refused(option):
    with pytest.raises(ValueError):
        Dispatcher({}, **option)


def test_a_device_repr_does_not_show_its_token():
    assert "phone-token" not in repr(PHONE)
    assert "phone-token" not in str(PHONE)


def test_a_sender_exception_is_logged_without_the_token(start, sender, caplog):
    caplog.set_level(logging.DEBUG)
    sender.answer("phone-token", RuntimeError("rejected phone-token"))
    dispatcher = start()
    dispatcher.submit("alice", 1, [PHONE])
    settled(dispatcher)
    assert "rejected <token>" in caplog.text
    assert "phone-token" not in caplog.text
