"""Serialize writes to one user's tree.

Every write to a tree bumps its root's generation, so two concurrent
writes to one tree always conflict in ZODB and one of them is retried:
wasted work, and under a burst of writes a request may run out of
attempts (503).  This tween makes writes (any method but GET, HEAD and
OPTIONS) to ``/users/<id>/...`` take a lock for that user, held from before
pyramid_tm begins the transaction until after it commits.

Within a process the lock is a ``threading.Lock``.  Locks are striped (a
fixed table indexed by a hash of the user id), so memory stays bounded
however many users there are.

Across processes (and hosts) on RelStorage/PostgreSQL, set
``myproject.tree_lock_dsn`` to a libpq DSN of the database, and the lock
is also a PostgreSQL advisory lock on that user (session-level, on one
connection per thread, in a key space of its own that RelStorage's locks
do not use).  A process that dies releases its locks with its
connections.  ``myproject.tree_lock_timeout`` (seconds, default 10) bounds
the wait: past it the request is retried like a conflict, and answered 503
once its attempts are used up.  Without the setting, ZODB's conflict
detection and pyramid_retry (with the back-off of ``myproject.retry``)
serialize writes across processes.
"""
import contextlib
import logging
import threading
import time
import zlib

from pyramid.exceptions import ConfigurationError
from transaction.interfaces import TransientError

from .metrics import app_metrics
from .retry import retryable
from .settings import app_settings

log = logging.getLogger(__name__)

STRIPES = 256
_READS = frozenset(("GET", "HEAD", "OPTIONS"))


class TreeLocks:
    """A fixed table of locks, one chosen per user id."""

    def __init__(self, stripes=STRIPES):
        self._locks = [threading.Lock() for _ in range(stripes)]

    def for_user(self, user_id):
        return self._locks[zlib.crc32(user_id.encode("utf-8")) % len(self._locks)]


#: The first key of every advisory lock this module takes (two-key locks
#: and one-key locks are separate spaces in PostgreSQL).
LOCK_CLASS = zlib.crc32(b"myproject tree lock") - 2 ** 31


class TreeBusy(TransientError):
    """The tree's lock was not free within the timeout."""


class PostgresTreeLocks:
    """Per-user locks shared by every process on one PostgreSQL database.

    Threads of one process first queue on the process's own lock, so a
    process holds at most one database lock per user at a time; then each
    thread takes ``pg_advisory_lock`` on its own connection (made on first
    use, in autocommit, with ``lock_timeout``) and releases it on leaving.
    """

    def __init__(self, dsn, timeout=10.0, stripes=STRIPES):
        try:
            import psycopg2  # the postgresql extra
            import psycopg2.errors
        except ImportError:
            raise ConfigurationError(
                "myproject.tree_lock_dsn needs psycopg2: "
                "pip install 'myproject[postgresql]'") from None
        self._psycopg2 = psycopg2
        self._dsn = dsn
        self._timeout_ms = max(1, int(timeout * 1000))
        self._local_locks = TreeLocks(stripes)
        self._local = threading.local()

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = self._psycopg2.connect(
                self._dsn, application_name="myproject tree locks")
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = %s",
                               (f"{self._timeout_ms}ms",))
            self._local.connection = connection
        return connection

    def _drop_connection(self):
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()  # its session's locks go with it

    @contextlib.contextmanager
    def for_user(self, user_id):
        key = zlib.crc32(user_id.encode("utf-8")) - 2 ** 31
        psycopg2 = self._psycopg2
        with self._local_locks.for_user(user_id):
            try:
                with self._connection().cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_lock(%s, %s)",
                                   (LOCK_CLASS, key))
            except psycopg2.errors.LockNotAvailable:
                raise retryable(TreeBusy(
                    f"the tree of {user_id!r} stayed locked for "
                    f"{self._timeout_ms} ms")) from None
            except psycopg2.Error as e:
                self._drop_connection()
                log.warning("tree lock for %r: %s: %s", user_id,
                            e.__class__.__name__, str(e).strip())
                raise retryable(TreeBusy("the tree lock database failed")
                                 ) from None
            try:
                yield
            finally:
                try:
                    with self._local.connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s, %s)",
                                       (LOCK_CLASS, key))
                except psycopg2.Error:
                    self._drop_connection()


def tree_locks_from_settings(settings):
    """Return PostgresTreeLocks if ``myproject.tree_lock_dsn`` is set,
    else TreeLocks (this process only); settings are parsed ``Settings``."""
    if not settings.tree_lock_dsn:
        return TreeLocks()
    return PostgresTreeLocks(settings.tree_lock_dsn,
                             timeout=settings.tree_lock_timeout)


def tree_lock_tween_factory(handler, registry):
    locks = tree_locks_from_settings(app_settings(registry))
    metrics = app_metrics(registry)
    waits = None if metrics is None else metrics.tree_lock_wait
    clock = time.perf_counter

    def tree_lock_tween(request):
        if request.method in _READS:
            return handler(request)
        try:
            segments = request.path_info.split("/", 3)
        except UnicodeDecodeError:  # refused with a 400 further in
            return handler(request)
        if len(segments) < 3 or segments[1] != "users" or not segments[2]:
            return handler(request)
        # TreeBusy, a TransientError, is retried; after the last attempt
        # the exception views answer 503 (myproject.retry).
        asked = clock()
        with locks.for_user(segments[2]):
            if waits is not None:
                waits.observe(clock() - asked)
            return handler(request)

    return tree_lock_tween


def includeme(config):
    config.add_tween("myproject.treelocks.tree_lock_tween_factory",
                     over="pyramid_tm.tm_tween_factory")
