"""Several pserve processes on one database: RelStorage on PostgreSQL, and ZEO.

Every test runs real ``pserve`` processes (``tests/servers.py``) on
127.0.0.1, each with its own .ini and port, all on the same database, as
several processes on one host or several hosts would run in production:

- a write through one process is seen by a poll through another within a
  second;
- each process pushes for its own commits only (one fake APNs server for
  all; each process signs its APNs tokens with its own key id, so the fake
  can tell who sent a push);
- concurrent writes through both processes lose nothing and keep every
  generation unique; with ``myproject.tree_lock_dsn`` they need no retry;
- the same on ZEO (``etc/zeo-client.conf``, ``server-sync``);
- ``production.ini`` takes its port from ``pserve production.ini
  http_port=...``, so two processes can share one host.
"""
import json
import pathlib
import threading
import time
import urllib.request

import jwt
import pytest
from paste.deploy.loadwsgi import SERVER, loadcontext

from myproject.client import APIError, SyncClient

from .push.fakes import FakeAPNs, push_settings, write_apns_key
from .servers import Server, write_ini
from .storage import zodb_uri_for
from .test_live import add_user

ROOT = pathlib.Path(__file__).resolve().parent.parent
ETC = ROOT / "etc"

#: Sets every new user starts with: a new tree is at generation 3.
START_GENERATION = 3

#: How often a writer sends a write again that was answered 503.
RESENDS = 10

DEVICE = "c0ffee" * 10 + "abcd"  # a 64-hex-digit APNs device token


def relstorage_uri(dsn):
    """The URI docs/scaling.txt recommends for production.ini."""
    return zodb_uri_for("postgresql", dsn, keep_history=False, cache_local_mb=16)


class Cluster:
    """pserve processes named "a", "b", ... sharing one storage URI."""

    def __init__(self, folder, uri, names=("a", "b"), settings=None,
                 log_level="WARN"):
        self.folder = folder
        self.uri = uri
        # Users are made through an .ini of their own that only logs
        # pushes, so this test process never starts a real APNs sender.
        self.admin_ini, _ = write_ini(
            str(folder), uri, name="admin.ini",
            settings={"myproject.push.senders": "log"})
        self.servers = {}
        for name in names:
            extra = {"myproject.push.senders": "log"}
            extra.update((settings or {}).get(name, {}))
            ini, port = write_ini(str(folder), uri, name=f"server-{name}.ini",
                                  settings=extra, log_level=log_level)
            self.servers[name] = Server(ini, port)

    def add_user(self, user_id, *flags):
        """Create a user (any time: the storage is shared); return its token."""
        return add_user(self.admin_ini, user_id, *flags)

    def start(self):
        for server in self.servers.values():
            server.start()
        return self

    def stop(self):
        for server in self.servers.values():
            server.stop()

    def client(self, name, user_id, token):
        return SyncClient(self.servers[name].url, user_id, token)

    def __getitem__(self, name):
        return self.servers[name]


@pytest.fixture
def relstorage_cluster(tmp_path, postgresql_dsn):
    cluster = Cluster(tmp_path, relstorage_uri(postgresql_dsn),
                      log_level="INFO")
    token = cluster.add_user("alice")
    cluster.start()
    yield cluster, token
    cluster.stop()


def post_json(url, token, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def poll_until_seen(client, set_id, document_id, timeout=1.0):
    """Poll until the mirror holds the document; return (seconds, polls).

    Fails once ``timeout`` seconds have passed without seeing it.
    """
    start = time.monotonic()
    polls = 0
    while True:
        client.sync()
        polls += 1
        elapsed = time.monotonic() - start
        if document_id in client.state["contents"].get(set_id, {}):
            return elapsed, polls
        assert elapsed < timeout, (
            f"{document_id} not seen after {polls} polls in {elapsed:.3f} s")


# -- RelStorage on PostgreSQL: two processes ---------------------------------

def test_a_write_through_one_process_is_polled_through_the_other_within_a_second(
        relstorage_cluster):
    cluster, token = relstorage_cluster
    clients = {name: cluster.client(name, "alice", token) for name in "ab"}
    for client in clients.values():
        assert client.sync() == START_GENERATION
    delays, polls = [], []
    for i in range(20):
        writer, reader = ("a", "b") if i % 2 == 0 else ("b", "a")
        clients[writer].create("messages", {"id": f"m{i}", "via": writer})
        elapsed, count = poll_until_seen(clients[reader], "messages", f"m{i}")
        delays.append(elapsed)
        polls.append(count)
        assert clients[reader].generation == clients[writer].generation
        assert clients[reader].state == clients[writer].state
    assert max(delays) < 1.0
    # RelStorage polls the database when a transaction begins: the first
    # poll after the write's answer shows it.
    assert polls == [1] * 20
    assert clients["a"].generation == START_GENERATION + 20


@pytest.fixture(scope="module")
def fake_apns():
    with FakeAPNs() as server:
        yield server


def test_each_process_pushes_for_its_own_commits_only(
        tmp_path, postgresql_dsn, fake_apns):
    fake_apns.reset()
    key_file = tmp_path / "AuthKey.p8"
    write_apns_key(key_file)
    ca_file = fake_apns.write_ca(tmp_path / "ca.pem")
    key_ids = {"a": "PROCESS0A1", "b": "PROCESS0B2"}
    settings = {
        name: push_settings(
            apns=fake_apns, apns_key_file=key_file, ca_file=ca_file,
            coalesce_window="0", **{"apns.key_id": key_id})
        for name, key_id in key_ids.items()}
    cluster = Cluster(tmp_path, relstorage_uri(postgresql_dsn), settings=settings)
    token = cluster.add_user("alice")
    cluster.start()
    try:
        status, _ = post_json(
            f"{cluster['a'].url}/users/alice/@@devices", token,
            {"platform": "apns", "token": DEVICE, "environment": "production"})
        assert status == 201
        clients = {name: cluster.client(name, "alice", token) for name in "ab"}
        expected = []  # (process, generation), one per commit

        def write(name, doc_id):
            clients[name].create("messages", {"id": doc_id})
            expected.append((name, clients[name].generation))
            # One push per commit: wait for it before the next commit, so
            # that no two commits merge into one push.
            fake_apns.wait_for_requests(len(expected), timeout=10)

        # Through A only, then through B only, then both in turn.
        for i in range(4):
            write("a", f"a{i}")
        for i in range(4):
            write("b", f"b{i}")
        for i in range(6):
            write("ab"[i % 2], f"ab{i}")

        # A wrong push (say, by the process that did not commit) would come
        # along with the right one; give it a moment to arrive.
        time.sleep(0.5)
        sender_of = {key_id: name for name, key_id in key_ids.items()}
        pushes = []
        for request in fake_apns.requests:
            assert request.token == DEVICE
            jwt_token = request.headers["authorization"].split(" ", 1)[1]
            sender = sender_of[jwt.get_unverified_header(jwt_token)["kid"]]
            pushes.append((sender, request.body["generation"]))
        assert pushes == expected
        generations = [generation for _, generation in expected]
        assert generations == list(range(
            START_GENERATION + 1, START_GENERATION + 1 + 14))
        assert sum(1 for name, _ in pushes if name == "a") == 4 + 3
        assert sum(1 for name, _ in pushes if name == "b") == 4 + 3
    finally:
        cluster.stop()


def hammer_one_tree(cluster, token, threads_per_process=4, writes=25):
    """Writers in both processes create documents in alice's tree at once.

    A write answered 503 ("nothing was saved, retry") is sent again, as a
    client would; had the 503 saved anything, the resent create would be
    refused with 409.  Return the number of 503s; check that nothing was
    lost and that every write got its own generation.
    """
    generations, failures, refused = [], [], []
    lock = threading.Lock()

    def writer(name, n):
        client = cluster.client(name, "alice", token)
        for i in range(writes):
            for attempt in range(RESENDS):
                try:
                    client.create("messages", {"id": f"{name}{n}-{i}"})
                except APIError as error:
                    if error.status != 503:
                        failures.append(error)
                        break
                    with lock:
                        refused.append(error)
                    continue
                with lock:
                    generations.append(client.generation)
                break
            else:
                failures.append(f"{name}{n}-{i}: 503 {RESENDS} times")

    threads = [threading.Thread(target=writer, args=(name, n))
               for name in "ab" for n in range(threads_per_process)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    total = 2 * threads_per_process * writes
    assert failures == []
    assert len(generations) == total
    assert len(set(generations)) == total  # every write its own generation
    assert sorted(generations) == list(range(
        START_GENERATION + 1, START_GENERATION + 1 + total))
    written = {f"{name}{n}-{i}" for name in "ab"
               for n in range(threads_per_process) for i in range(writes)}
    for name in "ab":
        check = cluster.client(name, "alice", token)
        assert check.sync() == START_GENERATION + total
        assert set(check.state["contents"]["messages"]) == written
    return len(refused)


def retries_logged(cluster):
    return sum(server.log(tail=None).count("retrying POST")
               for server in cluster.servers.values())


def test_concurrent_writes_through_two_processes_lose_nothing(relstorage_cluster):
    # Every write to a tree bumps its generation, so concurrent writes to
    # one tree always conflict.  Within a process a lock serializes them;
    # across processes (without myproject.tree_lock_dsn) ZODB's conflict
    # detection and pyramid_retry do, and when a request's retries run out
    # it answers 503.
    cluster, token = relstorage_cluster
    refused = hammer_one_tree(cluster, token)
    print(f"{retries_logged(cluster)} retries, {refused} answers 503")


def test_a_database_lock_serializes_writes_across_processes(
        tmp_path, postgresql_dsn):
    # With myproject.tree_lock_dsn, writes to one tree queue on a
    # PostgreSQL advisory lock instead of conflicting: no retry at all.
    locks = {"myproject.tree_lock_dsn": postgresql_dsn}
    cluster = Cluster(tmp_path, relstorage_uri(postgresql_dsn),
                      settings={"a": locks, "b": locks}, log_level="INFO")
    token = cluster.add_user("alice")
    cluster.start()
    try:
        assert hammer_one_tree(cluster, token) == 0
        assert retries_logged(cluster) == 0
    finally:
        cluster.stop()


# -- ZEO -----------------------------------------------------------------------

def test_the_api_on_zeo_through_two_processes(tmp_path, zeo_server, monkeypatch):
    # The storage of zeo_server is shared by the session: own user ids.
    monkeypatch.setenv("MYPROJECT_ZEO_ADDRESS", f"{zeo_server.host}:{zeo_server.port}")
    cluster = Cluster(tmp_path, f"zconfig://{ETC / 'zeo-client.conf'}")
    admin = cluster.add_user("zeo-admin", "--admin")
    cluster.start()
    try:
        # A user made through the users API of process A ...
        status, answer = post_json(f"{cluster['a'].url}/users", admin, {"id": "zeo-carol"})
        assert status == 201
        token = answer["token"]
        a = cluster.client("a", "zeo-carol", token)
        b = cluster.client("b", "zeo-carol", token)
        # ... is served by process B at once.
        assert b.sync() == START_GENERATION
        a.sync()
        a.create("messages", {"id": "m1", "text": "hello"})
        a.create_set("tasks", "work")
        a.create("tasks/work", {"id": "t1", "done": False})
        b.sync()  # server-sync: the first poll sees every earlier commit
        assert b.state == a.state
        assert b.state["contents"] == {
            "messages": {"m1": {"id": "m1", "text": "hello"}},
            "tasks": {"work": {"t1": {"id": "t1", "done": False}}}}
        b.patch("tasks/work/t1", {"done": True})
        b.delete("messages/m1")
        a.sync()
        assert a.state == b.state
        assert a.generation == START_GENERATION + 5
        assert a.state["contents"] == {
            "messages": {}, "tasks": {"work": {"t1": {"id": "t1", "done": True}}}}
    finally:
        cluster.stop()


# -- production.ini: one port per process ------------------------------------

@pytest.mark.parametrize("variables, port", [({}, "6543"), ({"http_port": "6544"}, "6544")])
def test_production_ini_takes_the_port_from_the_pserve_command_line(variables, port):
    # What ``pserve production.ini [http_port=6544]`` hands to waitress.
    context = loadcontext(SERVER, f"config:{ROOT / 'production.ini'}",
                          global_conf=variables)
    assert context.local_conf["port"] == port
    assert context.local_conf["host"] == "*"
    assert "listen" not in context.local_conf  # waitress refuses both
