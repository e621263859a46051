import email.utils

import pytest
from hypothesis import given, strategies as st

from myproject.push.backoff import backoff_delay, parse_retry_after


@given(attempt=st.integers(1, 40), rand=st.floats(0, 1))
def test_the_delay_stays_under_the_exponential_ceiling_and_the_cap(attempt, rand):
    delay = backoff_delay(attempt, base=0.5, cap=30.0, rand=lambda: rand)
    assert 0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))


def test_the_ceiling_doubles_with_each_attempt_until_the_cap():
    ceilings = [backoff_delay(n, base=0.5, cap=30.0, rand=lambda: 1.0)
                for n in range(1, 9)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_jitter_spreads_delays_over_the_whole_range():
    assert backoff_delay(3, base=1, cap=60, rand=lambda: 0.0) == 0.0
    assert backoff_delay(3, base=1, cap=60, rand=lambda: 0.25) == 1.0


@given(attempt=st.integers(1, 10), rand=st.floats(0, 1),
       retry_after=st.floats(0, 100))
def test_a_retry_after_is_never_undercut(attempt, rand, retry_after):
    delay = backoff_delay(attempt, base=0.5, cap=30.0, retry_after=retry_after,
                          rand=lambda: rand)
    assert delay >= retry_after


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        backoff_delay(0, base=1, cap=1)


def test_retry_after_seconds_and_dates_are_understood():
    now = 1_700_000_000
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3",
                                   "Mon, 99 Foo 2024 25:61:00"])
def test_a_missing_or_malformed_retry_after_is_none(value):
    assert parse_retry_after(value) is None
