"""The storage fixtures against real servers: RelStorage on PostgreSQL, ZEO.

Two ``ZODB.DB`` objects on one database stand for two server processes; one
test uses a real second process.
"""
import contextlib
import os
import pathlib
import subprocess
import sys
import textwrap
import time
import typing

import pytest
import transaction
import zodburi
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping
from psycopg2.extensions import parse_dsn
from transaction.interfaces import NoTransaction
from ZODB.POSException import ConflictError

from tests import storage
from tests.storage import (
    open_db,
    opened_db,
    zodb_uri_for,
)

pytest_plugins = ["tests.storage"]


class Shared(typing.NamedTuple):
    uri: str
    #: Does a transaction see every commit made before it began?
    immediate: bool


@pytest.fixture(params=["postgresql", "zeo-server-sync", "zeo-uri"])
def shared(request):
    """A storage several processes can share: RelStorage, or ZEO two ways."""
    if request.param == "postgresql":
        dsn = request.getfixturevalue("postgresql_dsn")
        return Shared(zodb_uri_for("postgresql", dsn), immediate=True)
    zeo = request.getfixturevalue("zeo_server")
    if request.param == "zeo-server-sync":
        return Shared(zeo.zconfig_uri(server_sync=True, wait_timeout=10), immediate=True)
    return Shared(zeo.uri(wait_timeout=10), immediate=False)


@pytest.fixture
def key(request):
    """A root key of this test's own (the ZEO storage is shared by the session)."""
    return request.node.name


def read_when(tm, conn, read, expected, *, immediate, timeout=5.0):
    """Return read(root) from a new transaction once it equals expected.

    With immediate, only one transaction is tried; otherwise new ones are
    begun until timeout seconds have passed.  Fails the test on timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        with tm:
            value = read(conn.root())
        if value == expected or immediate or time.monotonic() > deadline:
            assert value == expected
            return value
        time.sleep(0.01)


@contextlib.contextmanager
def two_dbs(uri):
    """Yield two independent DBs on uri, each with an explicit transaction manager."""
    with opened_db(uri) as db_a, opened_db(uri) as db_b:
        tm_a = transaction.TransactionManager(explicit=True)
        tm_b = transaction.TransactionManager(explicit=True)
        conn_a = db_a.open(tm_a)
        conn_b = db_b.open(tm_b)
        try:
            yield (tm_a, conn_a), (tm_b, conn_b)
        finally:
            for tm, conn in ((tm_a, conn_a), (tm_b, conn_b)):
                with contextlib.suppress(NoTransaction):
                    tm.abort()
                conn.close()


# -- URIs --------------------------------------------------------------------

def test_file_uri_opens_a_filestorage_that_keeps_data(tmp_path):
    uri = zodb_uri_for("file", tmp_path / "Data.fs", connection_cache_size=500)
    assert uri == f"file://{tmp_path}/Data.fs?connection_cache_size=500"
    factory, dbkw = zodburi.resolve_uri(uri)
    assert dbkw["cache_size"] == 500
    with opened_db(uri) as db, db.transaction() as conn:
        conn.root()["tree"] = OOBTree({"a": 1})
    with opened_db(uri) as db, db.transaction() as conn:
        assert dict(conn.root()["tree"]) == {"a": 1}


def test_postgresql_uri_uses_relstorage_postgres_scheme(postgresql_server, postgresql_dsn):
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False,
                       cache_local_mb=16, connection_cache_size=2000)
    host, port = postgresql_server.host, postgresql_server.port
    assert uri.startswith(f"postgres://postgres@{host}:{port}/test_")
    assert uri.endswith("?keep_history=0&cache_local_mb=16&connection_cache_size=2000")
    factory, dbkw = zodburi.resolve_uri(uri)
    assert dbkw["cache_size"] == 2000
    storage = factory()
    try:
        assert type(storage).__name__ == "RelStorage"
        assert storage._options.keep_history is False
        assert storage._options.cache_local_mb == 16
    finally:
        storage.close()


def test_postgresql_uri_commits_and_reads_back(postgresql_dsn):
    uri = zodb_uri_for("postgresql", postgresql_dsn)
    with opened_db(uri) as db, db.transaction() as conn:
        conn.root()["tree"] = OOBTree({"a": PersistentMapping(n=1)})
    with opened_db(uri) as db, db.transaction() as conn:
        assert conn.root()["tree"]["a"]["n"] == 1


def test_postgres_uri_needs_an_explicit_port_and_host():
    # RelStorage would turn the missing parts into the string 'None'.
    with pytest.raises(ValueError, match="port"):
        zodb_uri_for("postgresql", "dbname=x user=u host=127.0.0.1")
    with pytest.raises(ValueError, match="unix socket"):
        zodb_uri_for("postgresql", "dbname=x user=u host=/tmp port=5432")


def test_postgres_uri_refuses_a_password_it_cannot_carry():
    with pytest.raises(ValueError, match="password"):
        zodb_uri_for("postgresql", "dbname=x user=u password=a@b host=h port=1")
    assert (zodb_uri_for("postgresql", "dbname=x user=u password=s3cret host=h port=1")
            == "postgres://u:s3cret@h:1/x")


def test_zeo_uri_names_host_and_port(zeo_server):
    uri = zeo_server.uri(cache_size="64MB", wait_timeout=5)
    assert uri == (f"zeo://127.0.0.1:{zeo_server.port}"
                   "?cache_size=64MB&wait_timeout=5")
    factory, dbkw = zodburi.resolve_uri(uri)
    storage = factory()
    try:
        assert type(storage).__name__ == "ClientStorage"
    finally:
        storage.close()


def test_an_unknown_uri_parameter_is_refused(zeo_server):
    with pytest.raises(zodburi.UnknownDatabaseKeywords):
        zodburi.resolve_uri(zeo_server.uri(no_such_option=1))


def test_unknown_storage_kind_is_refused():
    with pytest.raises(ValueError, match="unknown storage kind"):
        zodb_uri_for("mysql", "x")


def test_missing_postgresql_binaries_are_named(monkeypatch, tmp_path):
    monkeypatch.delenv("PG_BIN", raising=False)
    monkeypatch.setattr(storage, "PG_BIN_GLOB", str(tmp_path / "*" / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(storage.PostgreSQLNotFound, match="apt-get install postgresql"):
        storage.find_postgresql_bin()
    monkeypatch.setenv("PG_BIN", str(tmp_path))
    with pytest.raises(storage.PostgreSQLNotFound, match=f"PG_BIN={tmp_path} does not hold"):
        storage.find_postgresql_bin()


# -- two DBs on one database -----------------------------------------------

def test_commit_through_one_db_is_seen_by_a_second_db(shared, key):
    with two_dbs(shared.uri) as ((tm_a, conn_a), (tm_b, conn_b)):
        with tm_b:
            assert key not in conn_b.root()
        with tm_a:
            conn_a.root()[key] = PersistentMapping(documents=OOBTree({"d1": "x"}))
        read_when(tm_b, conn_b, lambda root: dict(root.get(key, {}).get("documents", {})),
                  {"d1": "x"}, immediate=shared.immediate)
        with tm_a:
            conn_a.root()[key]["documents"]["d2"] = "y"
        read_when(tm_b, conn_b, lambda root: list(root[key]["documents"]),
                  ["d1", "d2"], immediate=shared.immediate)


def test_conflicting_commits_raise_conflict_error_and_a_retry_succeeds(shared, key):
    with two_dbs(shared.uri) as ((tm_a, conn_a), (tm_b, conn_b)):
        with tm_a:
            conn_a.root()[key] = PersistentMapping(count=0)
        read_when(tm_b, conn_b, lambda root: key in root, True,
                  immediate=shared.immediate)
        tm_a.begin()
        tm_b.begin()
        counter_a = conn_a.root()[key]
        counter_b = conn_b.root()[key]
        assert counter_a["count"] == counter_b["count"] == 0
        counter_a["count"] += 1
        counter_b["count"] += 1
        tm_a.commit()
        with pytest.raises(ConflictError):
            tm_b.commit()
        tm_b.abort()
        with tm_b:  # the retry reads the other commit, whatever the storage
            conn_b.root()[key]["count"] += 1
        read_when(tm_a, conn_a, lambda root: root[key]["count"], 2,
                  immediate=shared.immediate)


def test_concurrent_inserts_into_one_btree_are_resolved(shared, key):
    # BTree buckets resolve conflicts between distinct keys; the app's
    # sets lean on that.
    with two_dbs(shared.uri) as ((tm_a, conn_a), (tm_b, conn_b)):
        with tm_a:
            conn_a.root()[key] = OOBTree({"m": 0})
        read_when(tm_b, conn_b, lambda root: key in root, True,
                  immediate=shared.immediate)
        tm_a.begin()
        tm_b.begin()
        conn_a.root()[key]["a"] = 1
        conn_b.root()[key]["z"] = 2
        tm_a.commit()
        tm_b.commit()
        read_when(tm_a, conn_a, lambda root: dict(root[key]),
                  {"a": 1, "m": 0, "z": 2}, immediate=shared.immediate)


def test_history_free_relstorage_resolves_btree_conflicts(postgresql_dsn):
    # History-free keeps no old revisions; conflict resolution reads the
    # old state through the storage's MVCC snapshot instead.
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    test_concurrent_inserts_into_one_btree_are_resolved(Shared(uri, True), "tree")


def test_commit_in_another_process_is_seen_by_an_open_db(postgresql_dsn):
    uri = zodb_uri_for("postgresql", postgresql_dsn)
    with opened_db(uri) as db:
        tm = transaction.TransactionManager(explicit=True)
        conn = db.open(tm)
        with tm:
            assert "from_child" not in conn.root()
        script = textwrap.dedent(f"""
            from tests.storage import opened_db
            with opened_db({uri!r}) as db, db.transaction() as conn:
                conn.root()["from_child"] = 42
        """)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        with tm:
            assert conn.root()["from_child"] == 42
        conn.close()


def test_open_db_closes_the_storage_when_db_creation_fails(tmp_path):
    uri = zodb_uri_for("file", tmp_path / "Data.fs", connection_pool_size="many")
    with pytest.raises(ValueError):
        open_db(uri)
    with opened_db(zodb_uri_for("file", tmp_path / "Data.fs")):
        pass  # the lock file was released


# -- configuration files under etc/ ------------------------------------------

ETC = pathlib.Path(__file__).resolve().parent.parent / "etc"


def test_relstorage_zconfig_file_takes_the_dsn_from_the_environment(
        postgresql_dsn, monkeypatch):
    monkeypatch.setenv("MYPROJECT_PG_DSN", postgresql_dsn)
    uri = f"zconfig://{ETC / 'relstorage.conf'}"
    factory, dbkw = zodburi.resolve_uri(uri)
    assert dbkw["cache_size"] == 10000
    with opened_db(uri) as db:
        assert db.storage._options.keep_history is False
        with db.transaction() as conn:
            conn.root()["tree"] = OOBTree({"a": 1})
    with opened_db(zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)) as db:
        with db.transaction() as conn:
            assert dict(conn.root()["tree"]) == {"a": 1}


def test_zeo_zconfig_file_syncs_with_the_server(zeo_server, key, monkeypatch):
    monkeypatch.setenv("MYPROJECT_ZEO_ADDRESS", f"{zeo_server.host}:{zeo_server.port}")
    uri = f"zconfig://{ETC / 'zeo-client.conf'}"
    with two_dbs(uri) as ((tm_a, conn_a), (tm_b, conn_b)):
        assert conn_a.db().storage.server_sync is True
        for n in range(20):
            with tm_a:
                conn_a.root()[key] = n
            with tm_b:
                assert conn_b.root()[key] == n


# -- migration (zodbconvert) and packing (zodbpack) on PostgreSQL ----------

CONVERT_CONFIG = ETC / "zodbconvert-file-to-postgresql.conf"


def script_command(name, module):
    """Return argv for console script name of this Python (else python -m module)."""
    script = pathlib.Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", module]


def build_sample_tree(db):
    """Commit a small nested tree over several transactions; return it as plain data."""
    with db.transaction() as conn:
        conn.root()["app"] = PersistentMapping(users=OOBTree())
    with db.transaction() as conn:
        users = conn.root()["app"]["users"]
        for name in ("alice", "bob"):
            users[name] = PersistentMapping(generation=0, sets=OOBTree({
                "messages": OOBTree(), "tasks": OOBTree()}))
    for n in range(1, 6):
        with db.transaction() as conn:
            alice = conn.root()["app"]["users"]["alice"]
            alice["sets"]["messages"][f"m{n}"] = PersistentMapping(id=f"m{n}", text="hi " * n)
            alice["generation"] = n
    with db.transaction() as conn:
        alice = conn.root()["app"]["users"]["alice"]
        del alice["sets"]["messages"]["m2"]
        alice["sets"]["messages"]["m3"]["text"] = "edited"
        alice["generation"] = 6
    with db.transaction() as conn:
        return plain(conn.root()["app"])


def plain(value):
    """Return value with persistent mappings and BTrees turned into dicts."""
    if isinstance(value, (PersistentMapping, OOBTree)):
        return {key: plain(item) for key, item in value.items()}
    return value


def run_zodbconvert(folder, *args, dsn=None):
    env = dict(os.environ)
    env.pop("MYPROJECT_PG_DSN", None)
    if dsn is not None:
        env["MYPROJECT_PG_DSN"] = dsn
    return subprocess.run(
        [*script_command("zodbconvert", "relstorage.zodbconvert"), *args,
         str(CONVERT_CONFIG)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_zodbconvert_moves_the_development_filestorage_into_postgresql(
        tmp_path, postgresql_dsn):
    data_fs = tmp_path / "var" / "Data.fs"
    data_fs.parent.mkdir()
    with opened_db(zodb_uri_for("file", data_fs)) as db:
        expected = build_sample_tree(db)
    assert expected["users"]["alice"]["generation"] == 6
    source_bytes = data_fs.read_bytes()

    result = run_zodbconvert(tmp_path, dsn=postgresql_dsn)

    assert result.returncode == 0, result.stderr
    assert data_fs.read_bytes() == source_bytes
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    with opened_db(uri) as db:
        with db.transaction() as conn:
            assert plain(conn.root()["app"]) == expected
            # New objects get fresh oids, not ones the copied data uses.
            conn.root()["app"]["users"]["carol"] = PersistentMapping(
                generation=0, sets=OOBTree({"messages": OOBTree()}))
    with opened_db(uri) as db, db.transaction() as conn:
        users = plain(conn.root()["app"]["users"])
        assert users.pop("carol") == {"generation": 0, "sets": {"messages": {}}}
        assert users == expected["users"]


def test_zodbpack_collects_what_the_migrated_tree_no_longer_reaches(
        tmp_path, postgresql_server, postgresql_dsn):
    data_fs = tmp_path / "var" / "Data.fs"
    data_fs.parent.mkdir()
    with opened_db(zodb_uri_for("file", data_fs)) as db:
        expected = build_sample_tree(db)  # it deletes message m2
    assert run_zodbconvert(tmp_path, dsn=postgresql_dsn).returncode == 0
    dbname = parse_dsn(postgresql_dsn)["dbname"]

    def count_objects():
        return postgresql_server.execute("SELECT count(*) FROM object_state", dbname)[0][0]

    before = count_objects()
    result = subprocess.run(
        [*script_command("zodbpack", "relstorage.zodbpack"), "--days", "0",
         str(ETC / "zodbpack-postgresql.conf")],
        env=dict(os.environ, MYPROJECT_PG_DSN=postgresql_dsn),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert count_objects() == before - 1
    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    with opened_db(uri) as db, db.transaction() as conn:
        assert plain(conn.root()["app"]) == expected


def test_zodbconvert_refuses_to_run_without_the_dsn(tmp_path):
    data_fs = tmp_path / "var" / "Data.fs"
    data_fs.parent.mkdir()
    with opened_db(zodb_uri_for("file", data_fs)):
        pass
    result = run_zodbconvert(tmp_path)
    assert result.returncode != 0
    assert "no replacement for 'MYPROJECT_PG_DSN'" in result.stderr


def test_zodbconvert_names_a_missing_source(tmp_path):
    result = run_zodbconvert(tmp_path, dsn="dbname=unused")
    assert result.returncode != 0
    assert "var/Data.fs does not exist" in result.stderr


def test_zodbconvert_refuses_a_destination_that_has_data(tmp_path, postgresql_dsn):
    data_fs = tmp_path / "var" / "Data.fs"
    data_fs.parent.mkdir()
    with opened_db(zodb_uri_for("file", data_fs)) as db, db.transaction() as conn:
        conn.root()["app"] = PersistentMapping()
    assert run_zodbconvert(tmp_path, dsn=postgresql_dsn).returncode == 0
    again = run_zodbconvert(tmp_path, dsn=postgresql_dsn)
    assert again.returncode != 0
    assert "the destination storage has data" in again.stderr


def test_zodbconvert_moves_the_apps_data_and_the_app_runs_on_postgresql(
        tmp_path, postgresql_dsn):
    # The app writes its development database through the API (users,
    # tokens, devices, nested sets, a shared document, edits and deletes),
    # zodbconvert copies it, and the same app runs on PostgreSQL: same
    # generations and documents, the same tokens work, new writes go on
    # from the copied generation.
    import webtest

    from myproject import main
    from myproject.client import EMPTY, apply_json_updates

    from .conftest import _close, app_settings, auth, make_user, site_of

    def mirror(testapp, user_id, token):
        answer = testapp.get(f"/users/{user_id}", {"generation": 0},
                             headers=auth(token)).json
        return apply_json_updates(EMPTY, answer)

    development = app_settings(tmp_path)  # file://<tmp_path>/var/Data.fs
    app = main({}, **development)
    try:
        tokens = {name: make_user(app, name) for name in ("alice", "bob")}
        testapp = webtest.TestApp(app)
        alice = auth(tokens["alice"])
        testapp.post_json("/users/alice/messages", {"id": "m1", "text": "hi"},
                          headers=alice, status=201)
        testapp.post_json("/users/alice/messages/m1/@@share", {"users": ["bob"]},
                          headers=alice)
        testapp.post_json("/users/alice/tasks", {"set": "work"}, headers=alice,
                          status=201)
        for i in range(5):
            testapp.post_json("/users/alice/tasks/work", {"id": f"t{i}", "n": i},
                              headers=alice, status=201)
        testapp.patch_json("/users/alice/tasks/work/t1", {"done": True},
                           headers=alice)
        testapp.delete("/users/alice/tasks/work/t2", headers=alice)
        testapp.post_json("/users/alice/@@devices",
                          {"platform": "fcm", "token": "fcm-token-1"},
                          headers=alice, status=201)
        before = {name: mirror(testapp, name, token)
                  for name, token in tokens.items()}
        generation = before["alice"]["generation"]
    finally:
        _close(app)
    assert generation == 3 + 9
    assert before["alice"]["contents"]["tasks"]["work"].keys() == {"t0", "t1", "t3", "t4"}
    assert before["bob"]["contents"]["messages"] == {"m1": {"id": "m1", "text": "hi"}}

    result = run_zodbconvert(tmp_path, dsn=postgresql_dsn)
    assert result.returncode == 0, result.stderr

    uri = zodb_uri_for("postgresql", postgresql_dsn, keep_history=False)
    app = main({}, **dict(development, **{"zodbconn.uri": uri}))
    try:
        testapp = webtest.TestApp(app)
        alice = auth(tokens["alice"])
        for name, token in tokens.items():
            assert mirror(testapp, name, token) == before[name]
        # An up-to-date client gets the fast path.
        assert testapp.get("/users/alice", {"generation": generation},
                           headers=alice).json == {"generation": generation}
        devices = testapp.get("/users/alice/@@devices", headers=alice).json
        assert [d["token"] for d in devices["devices"]] == ["fcm-token-1"]
        # New writes go on from the copied generation, edits of the shared
        # document still reach bob.
        answer = testapp.patch_json(
            "/users/alice/messages/m1?generation=" + str(generation),
            {"text": "edited on PostgreSQL"}, headers=alice).json
        assert answer["updates"] == {"generation": generation + 1, "adds": [
            {"set": "messages",
             "adds": [{"id": "m1", "text": "edited on PostgreSQL"}]}]}
        testapp.post_json("/users/alice/tasks/work", {"id": "t5"},
                          headers=alice, status=201)
        after = mirror(testapp, "alice", tokens["alice"])
        assert after["generation"] == generation + 2
        assert set(after["contents"]["tasks"]["work"]) == {"t0", "t1", "t3", "t4", "t5"}
        assert mirror(testapp, "bob", tokens["bob"])["contents"]["messages"] == {
            "m1": {"id": "m1", "text": "edited on PostgreSQL"}}
        site, conn = site_of(app)
        try:
            assert type(conn.db().storage).__name__ == "RelStorage"
            assert sorted(site.users.keys()) == ["alice", "bob"]
        finally:
            conn.close()
    finally:
        _close(app)

