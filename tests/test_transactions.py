"""A request reads the storage once: one snapshot per transaction.

Every ``Connection.newTransaction`` is a poll of the storage for other
processes' commits; on RelStorage a poll is several round trips to
PostgreSQL.  The requests' transaction manager is explicit, so a
connection polls when the request's transaction begins, not also on
opening, after the commit and when pyramid_zodbconn closes it.
"""
import subprocess
import sys

import pytest
import transaction
from ZODB.Connection import Connection

from myproject.request import Request
from myproject.resources import zodb_database

from .conftest import auth
from .servers import write_ini


@pytest.fixture
def snapshots(monkeypatch):
    """Count the connections' newTransaction calls (the storage's polls)."""
    calls = []
    original = Connection.newTransaction

    def counted(self, txn, sync=True):
        calls.append(txn)
        return original(self, txn, sync)

    monkeypatch.setattr(Connection, "newTransaction", counted)
    return calls


def test_request_tm_is_one_explicit_manager_per_request(app):
    request = Request.blank("/")
    request.registry = app.registry
    manager = request.tm
    assert request.tm is manager
    assert isinstance(manager, transaction.TransactionManager)
    assert manager.explicit
    other = Request.blank("/")
    other.registry = app.registry
    assert other.tm is not manager


@pytest.mark.parametrize("storage", ["file", "postgresql"])
def test_a_write_polls_the_storage_once(testapp, alice, snapshots):
    testapp.post_json("/users/alice/messages", {"id": "m1", "text": "hi"},
                      headers=auth(alice), status=201)
    snapshots.clear()
    testapp.post_json("/users/alice/messages", {"id": "m2", "text": "hi"},
                      headers=auth(alice), status=201)
    assert len(snapshots) == 1
    assert snapshots[0] is not None  # when the transaction began


@pytest.mark.parametrize("storage", ["file", "postgresql"])
@pytest.mark.parametrize("path", ["/users/alice", "/users/alice/messages"])
def test_a_poll_polls_the_storage_once(testapp, alice, snapshots, path):
    testapp.get(path, headers=auth(alice), status=200)
    snapshots.clear()
    testapp.get(path + "?generation=0", headers=auth(alice), status=200)
    assert len(snapshots) == 1


def test_a_refused_write_polls_once_and_saves_nothing(testapp, alice,
                                                       snapshots):
    testapp.post_json("/users/alice/messages", {"id": "m1", "text": "hi"},
                      headers=auth(alice), status=201)
    generation = testapp.get("/users/alice", headers=auth(alice)).json[
        "generation"]
    snapshots.clear()
    testapp.post_json("/users/alice/messages", {"id": "m1", "text": "again"},
                      headers=auth(alice), status=409)
    assert len(snapshots) == 1
    assert testapp.get(f"/users/alice?generation={generation}",
                       headers=auth(alice)).json == {"generation": generation}


PUSH_TOKEN = "f0" * 32


def test_the_transaction_log_keeps_no_push_token(app, testapp, alice):
    testapp.post_json("/users/alice/@@devices",
                      {"platform": "apns", "token": PUSH_TOKEN},
                      headers=auth(alice), status=201)
    testapp.delete(f"/users/alice/@@devices/{PUSH_TOKEN}",
                   headers=auth(alice), status=200)
    # (A history-free RelStorage keeps no log; a FileStorage does.)
    log = zodb_database(app.registry).undoLog(0, 10)
    notes = [entry["description"] for entry in log]
    assert "/users/alice/@@devices/<redacted>" in notes
    assert "/users/alice/@@devices" in notes  # what needs no redacting
    assert not any(PUSH_TOKEN in note for note in notes)
    assert all(entry["user_name"].endswith("alice") for entry in log[:2])


def test_pshell_on_a_new_database_makes_the_site_and_saves_in_a_with(
        tmp_path):
    """pshell bootstraps outside any transaction: the Site of a new
    database is made in one of its own; changes go inside ``with
    request.tm:`` and are saved."""
    ini, _ = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs")
    script = ("print('site:', type(root).__name__, list(root.users))\n"
              "with request.tm:\n"
              "    root.users.add('alice', sets=['messages'])\n"
              "\n"
              "print('users:', list(root.users))\n")
    done = subprocess.run(
        [sys.executable, "-m", "pyramid.scripts.pshell", ini], input=script,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "site: Site []" in done.stdout
    assert "users: ['alice']" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "myproject.scripts.admin", ini, "list-users"],
        capture_output=True, text=True, timeout=60)
    assert listed.stdout == "alice  generation 2\n"
