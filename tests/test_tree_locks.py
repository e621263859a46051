"""Tree locks across processes: PostgreSQL advisory locks (a real server).

The app runs in this process on a FileStorage; only its tree locks use the
PostgreSQL test database, which is enough to hold a user's lock from
"another process" (a connection of the test's own) and watch what a write
does.  ``tests/test_scale.py`` runs two pserve processes on RelStorage
with the locks on.
"""
import logging
import zlib

import psycopg2
import pytest
import webtest
from pyramid.exceptions import ConfigurationError

from myproject import main
from myproject.treelocks import LOCK_CLASS, PostgresTreeLocks, TreeLocks

from .conftest import _close, app_settings, auth, make_user


def user_key(user_id):
    return zlib.crc32(user_id.encode("utf-8")) - 2 ** 31


@pytest.fixture
def locked_app(tmp_path, postgresql_dsn):
    app = main({}, **app_settings(tmp_path, **{
        "myproject.tree_lock_dsn": postgresql_dsn,
        "myproject.tree_lock_timeout": "0.2",
        "retry.attempts": "2"}))
    yield app
    _close(app)


@pytest.fixture
def other_process(postgresql_dsn):
    """A database session standing for another process."""
    connection = psycopg2.connect(postgresql_dsn)
    connection.autocommit = True
    yield connection
    connection.close()


def advisory_locks(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT classid::int, objid::int, granted FROM pg_locks"
                       " WHERE locktype = 'advisory' AND objsubid = 2")
        return cursor.fetchall()


def test_a_write_waits_for_the_lock_and_gives_up_with_503(
        locked_app, other_process, caplog):
    caplog.set_level(logging.INFO, logger="myproject.retry")
    token = make_user(locked_app, "alice")
    testapp = webtest.TestApp(locked_app)
    with other_process.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)",
                       (LOCK_CLASS, user_key("alice")))
    r = testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=auth(token), status=503)
    assert r.headers["Retry-After"] == "1"
    assert r.json["error"] == "service_unavailable"
    assert "retrying POST /users/alice/messages (attempt 1 failed: TreeBusy)" \
        in caplog.text
    assert caplog.text.count("gave up on POST") == 1  # the last attempt's
    # Other users' trees and every read go on meanwhile.
    bob = make_user(locked_app, "bob")
    testapp.post_json("/users/bob/messages", {"id": "b1"}, headers=auth(bob),
                      status=201)
    assert "m1" not in testapp.get("/users/alice/messages",
                                   headers=auth(token)).text

    with other_process.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)",
                       (LOCK_CLASS, user_key("alice")))
    testapp.post_json("/users/alice/messages", {"id": "m1"},
                      headers=auth(token), status=201)
    # Every lock the app took is released after its request.
    assert advisory_locks(other_process) == []


def test_a_lock_is_the_user_s_across_processes(other_process):
    tree_locks = PostgresTreeLocks(other_process.dsn, timeout=1)
    with tree_locks.for_user("alice"):
        held = advisory_locks(other_process)
        assert held == [(LOCK_CLASS, user_key("alice"), True)]
        # A second holder (another process) cannot have it now.
        with other_process.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           (LOCK_CLASS, user_key("alice")))
            assert cursor.fetchone() == (False,)
    assert advisory_locks(other_process) == []


def test_a_lost_connection_is_made_again(other_process):
    tree_locks = PostgresTreeLocks(other_process.dsn, timeout=1)
    with tree_locks.for_user("alice"):
        pass
    with other_process.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'myproject tree locks'")
    with pytest.raises(Exception) as info:
        with tree_locks.for_user("alice"):
            pass
    assert info.type.__name__ == "TreeBusy"
    with tree_locks.for_user("alice"):  # a new connection
        assert len(advisory_locks(other_process)) == 1
    assert advisory_locks(other_process) == []


def test_without_a_dsn_the_locks_are_this_process_s(tmp_path):
    from myproject.settings import parse
    from myproject.treelocks import tree_locks_from_settings
    _, settings = parse(app_settings(tmp_path))
    assert isinstance(tree_locks_from_settings(settings), TreeLocks)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_a_bad_timeout_stops_the_start(tmp_path, value):
    with pytest.raises(ConfigurationError, match="tree_lock_timeout"):
        main({}, **app_settings(
            tmp_path, **{"myproject.tree_lock_timeout": value}))
