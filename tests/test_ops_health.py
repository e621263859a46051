"""The probes against real pserve processes: /__lbheartbeat__, /__heartbeat__."""
import json
import urllib.error
import urllib.request

import pytest

from .servers import Server, write_ini
from .storage import start_postgresql, zodb_uri_for


def get(url):
    """Return (status, JSON body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def file_server(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.push.senders": "log"})
    server = Server(ini, port).start()
    yield server
    server.stop()


def test_lbheartbeat_answers_an_empty_object(file_server):
    assert get(file_server.url + "/__lbheartbeat__") == (200, {})


def test_heartbeat_lists_every_dependency_and_is_200_when_all_are_fine(
        file_server):
    status, body = get(file_server.url + "/__heartbeat__")
    assert status == 200
    assert body == {
        "database": {"ok": True},
        "push.apns": {"ok": True, "sender": "log", "last": None},
        "push.fcm": {"ok": True, "sender": "log", "last": None},
        "dispatcher": {"ok": True, "queue_depth": 0},
    }


def test_heartbeat_is_503_when_postgresql_stops_under_relstorage(tmp_path):
    with start_postgresql() as postgresql:
        dsn = postgresql.create_database("heartbeat")
        uri = zodb_uri_for("postgresql", dsn, keep_history=False)
        ini, port = write_ini(str(tmp_path), uri)
        server = Server(ini, port).start()
        try:
            status, body = get(server.url + "/__heartbeat__")
            assert (status, body["database"]) == (200, {"ok": True})
            postgresql.stop()
            status, body = get(server.url + "/__heartbeat__")
            assert status == 503
            assert body["database"]["ok"] is False
            assert body["dispatcher"]["ok"] is True
            assert get(server.url + "/__lbheartbeat__") == (200, {})
            assert "postgres" not in json.dumps(body)  # no URI, no DSN
        finally:
            server.stop()


def test_a_sender_whose_last_push_got_no_answer_is_not_ok():
    from myproject.health import check_sender
    from myproject.push.log import LogSender
    from myproject.push.sender import Outcome, Result

    sender = LogSender()
    unreachable = check_sender("apns", sender,
                               (Result(Outcome.RETRY, None, "timeout"), 0))
    refused_token = check_sender("apns", sender,
                                 (Result(Outcome.FAIL, 400, "BadTopic"), 0))
    assert unreachable == {"ok": False, "sender": "log", "last": {
        "outcome": "retry", "status": None, "reason": "timeout",
        "at": "1970-01-01T00:00:00+00:00"}}
    assert refused_token["ok"] is True  # the service answered


def test_a_heartbeat_in_an_outage_leaves_the_database_closable(
        tmp_path, monkeypatch):
    """A storage whose poll fails (PostgreSQL down: RelStorage's poll is
    the first thing to fail) gives a failed check, then a good one once it
    is back, and the database still closes cleanly at the stop."""
    import ZODB
    import ZODB.FileStorage
    from ZODB.Connection import Connection

    from myproject.health import check_database
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / "Data.fs")))
    polls = Connection.newTransaction

    def down(self, txn, sync=True):
        raise OSError("server closed the connection unexpectedly")

    monkeypatch.setattr(Connection, "newTransaction", down)
    assert check_database(db) == {"ok": False, "error": "OSError"}
    monkeypatch.setattr(Connection, "newTransaction", polls)
    assert check_database(db) == {"ok": True}
    db.close()  # raised KeyError (a connection left half open) before
