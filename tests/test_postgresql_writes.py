"""A write on RelStorage reads ``object_state`` by key, with the session
settings docs/scaling.txt gives the servers' role
(``etc/postgresql-session.sql``), and the whole table without them.

Real PostgreSQL, a login role of its own and its database, the app's
classes writing one new document a commit as ``POST`` does.
"""
import itertools
import os
import time

import pytest
import transaction

from myproject.documents import Document
from myproject.resources import APP_ROOT_NAME, Site
from tests.storage import apply_session_settings, opened_db, zodb_uri_for

pytest_plugins = ["tests.storage"]

WRITES = 20
_roles = itertools.count()


def object_state_counts(server, role):
    """(sequential scans, rows inserted + updated) of object_state."""
    rows = server.execute(
        "SELECT seq_scan, n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
        "WHERE relname = 'object_state'", dbname=role)
    return rows[0] if rows else (0, 0)


def settled_counts(server, role, written):
    """The counts once the backends have reported the commits made
    (PostgreSQL gathers table statistics a little after the fact)."""
    deadline = time.monotonic() + 15
    while True:
        scans, rows = object_state_counts(server, role)
        if rows >= written or time.monotonic() > deadline:
            return scans, rows
        time.sleep(0.2)


@pytest.mark.parametrize("settings", [False, True],
                         ids=["without-settings", "with-settings"])
def test_a_write_scans_object_state_only_without_the_session_settings(
        postgresql_server, settings):
    role = f"app_{os.getpid()}_{next(_roles)}"
    dsn = postgresql_server.create_role_database(role)
    if settings:
        apply_session_settings(dsn)
    uri = zodb_uri_for("postgresql", dsn, keep_history=False)
    try:
        with opened_db(uri) as db:
            tm = transaction.TransactionManager(explicit=True)
            conn = db.open(tm)
            with tm:
                site = conn.root()[APP_ROOT_NAME] = Site()
                user = site.users.add("alice", sets=["messages"])
                for i in range(300):
                    Document({"id": f"d{i}", "text": "hello"},
                             "alice").place(user.tree["messages"])
            conn.close()
        settled_counts(postgresql_server, role, 1)  # the build's
        scans_before, rows_before = object_state_counts(postgresql_server, role)
        with opened_db(uri) as db:
            tm = transaction.TransactionManager(explicit=True)
            conn = db.open(tm)
            for i in range(WRITES):
                with tm:
                    messages = conn.root()[APP_ROOT_NAME].users[
                        "alice"].tree["messages"]
                    Document({"id": f"new{i}", "text": "hi"},
                             "alice").place(messages)
            conn.close()
        # Each write stores at least its document's bucket and its set.
        scans, rows = settled_counts(postgresql_server, role,
                                     rows_before + 2 * WRITES)
        assert rows >= rows_before + 2 * WRITES, "statistics never arrived"
        if settings:
            assert scans == scans_before
        else:
            assert scans - scans_before >= WRITES
    finally:
        postgresql_server.drop_database(role)
        postgresql_server.execute(f'DROP ROLE "{role}"')
