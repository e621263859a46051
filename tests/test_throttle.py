"""The failed-login throttle on its own, with a clock the test moves."""
import threading

import pytest

from myproject.admin.throttle import LoginThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_the_last_try_is_reported_and_then_the_key_waits(clock):
    throttle = LoginThrottle(attempts=3, window=60, clock=clock)
    assert [throttle.failed("a") for _ in range(3)] == [False, False, True]
    assert throttle.retry_after("a") == 60
    clock.now += 45.5
    assert throttle.retry_after("a") == 15  # rounded up
    assert throttle.retry_after("b") == 0


def test_failures_age_out_one_by_one(clock):
    throttle = LoginThrottle(attempts=2, window=60, clock=clock)
    throttle.failed("a")
    clock.now += 30
    throttle.failed("a")
    assert throttle.retry_after("a") == 30
    clock.now += 30             # the first failure is 60 s old
    assert throttle.retry_after("a") == 0
    assert throttle.failed("a")  # the second one still counts
    clock.now += 60
    assert throttle.retry_after("a") == 0


def test_success_forgets_the_failures(clock):
    throttle = LoginThrottle(attempts=2, window=60, clock=clock)
    throttle.failed("a")
    throttle.succeeded("a")
    assert not throttle.failed("a")


def test_memory_is_bounded(clock):
    throttle = LoginThrottle(attempts=2, window=60, clock=clock, max_keys=10)
    for i in range(10):
        throttle.failed(i)
    throttle.failed(0)          # paused
    clock.now += 61             # all of them are old now
    throttle.failed("new")
    assert len(throttle._failures) == 1
    for i in range(25):
        throttle.failed(i)
    assert len(throttle._failures) == 10
    assert throttle.retry_after(24) == 0 and 24 in throttle._failures


def test_threads_count_every_failure():
    throttle = LoginThrottle(attempts=10 ** 6, window=3600)

    def fail():
        for _ in range(1000):
            throttle.failed("a")

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(throttle._failures["a"]) == 4000


@pytest.mark.parametrize("attempts, window", [(0, 60), (3, 0)])
def test_bad_limits_are_refused(attempts, window):
    with pytest.raises(ValueError):
        LoginThrottle(attempts=attempts, window=window)
