"""Retrying a request that met a conflict, and the 503 when retries run out.

pyramid_retry runs a request again (``retry.attempts`` times in all) when
it fails with a retryable error: a ZODB ``ConflictError`` at commit, or a
``TransientError`` such as a tree lock not free in time
(``myproject.treelocks``).  Between attempts ``back_off_before_retry``
sleeps a little, more after each attempt, so that the writers that
collided do not collide again at once.  When the last attempt fails too,
``busy`` answers 503 with ``Retry-After``: nothing was saved.
"""
import logging
import random
import time

from pyramid_retry import IBeforeRetry, is_last_attempt, mark_error_retryable
from transaction.interfaces import TransientError

log = logging.getLogger(__name__)


def retryable(exc):
    """Return exc, marked for pyramid_retry to try the request again."""
    mark_error_retryable(exc)
    return exc


def back_off_before_retry(event):
    """Sleep a little, more after each attempt, before a retried request."""
    attempt = event.environ.get("retry.attempt", 0)
    request = event.request
    log.info("retrying %s %s (attempt %d failed: %s)", request.method,
             request.path, attempt + 1,
             event.exception.__class__.__name__)
    time.sleep(random.uniform(0, 0.005 * 2 ** attempt))


def busy(exc, request):
    """The JSON 503 of a request whose attempts all met conflicts."""
    # Rendered for every attempt that ends in a conflict (pyramid_tm renders
    # a failed commit through the exception views), but sent only when
    # pyramid_retry's attempts are used up: before that it retries, and
    # logs so (above).
    if is_last_attempt(request):
        log.warning("gave up on %s %s after %s attempts: %s", request.method,
                    request.path, request.environ.get("retry.attempts"),
                    exc.__class__.__name__)
    request.response.status = 503
    request.response.headers["Retry-After"] = "1"
    return {"error": "service_unavailable",
            "detail": "too many concurrent writes; nothing was saved, retry"}


def includeme(config):
    config.add_subscriber(back_off_before_retry, IBeforeRetry)
    config.add_exception_view(busy, TransientError, renderer="json")
