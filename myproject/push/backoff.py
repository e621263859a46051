"""Retry delays: exponential backoff with full jitter, honouring Retry-After."""
import email.utils
import random
import time


def backoff_delay(attempt, *, base, cap, retry_after=None, rand=random.random):
    """Return the seconds to wait before retry number ``attempt`` (1, 2, ...).

    Full jitter: uniform in ``[0, min(cap, base * 2 ** (attempt - 1))]``.
    A ``retry_after`` from the service is a floor: never retry earlier than
    it asked.  Raises ``ValueError`` for an attempt below 1.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = rand() * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def parse_retry_after(value, *, now=None):
    """Return a ``Retry-After`` header value in seconds, or ``None``.

    Accepts delta-seconds and HTTP-dates; ``None`` for a missing or
    malformed value.  A date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)
