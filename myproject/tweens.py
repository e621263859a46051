"""Serialize writes to one user's tree within a process.

Every write to a tree bumps its root's generation, so two concurrent
writes to one tree always conflict in ZODB and one of them is retried.
Within one process that is wasted work: this tween makes writes (any method
but GET and HEAD) to ``/users/<id>/...`` take a lock for that user, held
from before pyramid_tm begins the transaction until after it commits.
Across processes, ZODB's conflict detection and pyramid_retry (with the
jittered back-off in ``includeme``) still serialize them.

Locks are striped (a fixed table indexed by a hash of the user id), so
memory stays bounded however many users there are.
"""
import random
import threading
import time
import zlib

from pyramid_retry import IBeforeRetry

STRIPES = 256
_READS = frozenset(("GET", "HEAD", "OPTIONS"))


class TreeLocks:
    """A fixed table of locks, one chosen per user id."""

    def __init__(self, stripes=STRIPES):
        self._locks = [threading.Lock() for _ in range(stripes)]

    def for_user(self, user_id):
        return self._locks[zlib.crc32(user_id.encode("utf-8")) % len(self._locks)]


def tree_lock_tween_factory(handler, registry):
    locks = TreeLocks()

    def tree_lock_tween(request):
        if request.method in _READS:
            return handler(request)
        segments = request.path_info.split("/", 3)
        if len(segments) < 3 or segments[1] != "users" or not segments[2]:
            return handler(request)
        with locks.for_user(segments[2]):
            return handler(request)

    return tree_lock_tween


def back_off_before_retry(event):
    """Sleep a little, more after each attempt, before a retried request."""
    attempt = event.environ.get("retry.attempt", 0)
    time.sleep(random.uniform(0, 0.005 * 2 ** attempt))


def includeme(config):
    config.add_tween("myproject.tweens.tree_lock_tween_factory",
                     over="pyramid_tm.tm_tween_factory")
    config.add_subscriber(back_off_before_retry, IBeforeRetry)
