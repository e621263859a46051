#!/usr/bin/env python
"""Throughput on RelStorage against FileStorage, and two processes against one.

Measured in one run, as ratios (absolute figures depend on the machine):

poll   ``GET /users/uN?generation=G`` with G current: ``{"generation": G}``,
       the request a client makes on every push and app start
write  ``POST /users/uN/messages`` of a new small document (a fresh id
       each time, no ``generation``): ``201``

1. poll and write, RelStorage (PostgreSQL) / FileStorage, one pserve
   process each, and writes to one tree (every connection writes to the
   same user) the same way (target for writes: >= 0.8, both);
2. poll, two pserve processes / one, both on the same RelStorage database
   (target: >= 1.3 on a 2-core machine);
3. write to one hot tree (every connection writes to the same user) through
   two processes on RelStorage, with the cross-process tree lock
   (``myproject.tree_lock_dsn``) / without it: writes saved per second,
   and the retries and ``503`` answers each side caused.

Servers: real ``pserve`` processes (waitress, ``threads = 8`` as in
production.ini) on 127.0.0.1, built from the same .ini template but for
the storage URI: a FileStorage in a temporary folder, and RelStorage on a
throwaway PostgreSQL cluster started by ``tests.storage.start_postgresql``
(history-free, ``cache_local_mb=64``, the URI docs/scaling.txt gives).
Both databases hold the same data, made with the app's classes before the
servers start: 16 users, each with 1,000 documents in ``messages``.  The
PostgreSQL database belongs to a login role of its own with the session
settings of ``etc/postgresql-session.sql``, as docs/scaling.txt sets up
production (``--no-session-settings`` leaves them out, to compare).

Load: one client process (this one): a single thread driving keep-alive
HTTP/1.1 connections through ``selectors``, one request in flight per
connection, request bytes prepared in advance and answers parsed only as
far as the status and ``Content-Length``.  Connection i polls or writes
the tree of user i (modulo 16).  On 2 cores a Python server process is held
to about one core by its GIL; two of them, PostgreSQL and the client share
both cores, so the client must be cheap: it takes about 0.1 ms of CPU a
request, kernel socket work included (0.1 core at 1,000 req/s), where a
client process per server process (or http.client, several times dearer
a request) would take CPU from the servers and lower the two-process
figure.  Both sides of a ratio get the same client and the same
connections (two processes: every other connection goes to the second).

``PG ms/req`` is PostgreSQL's CPU time (all its processes) per answered
request of the row.  The CPU columns say what each part used during the
rounds, in cores (CPU seconds per second): the server processes, PostgreSQL (postmaster and
backends), this client, and ``other``: whatever else kept the machine busy
(other programs, and kernel time no process is charged for, such as
loopback networking in interrupts).  A high ``other`` means the figures
are squeezed by something else running: run again on a quiet machine.

Each comparison warms both sides up, then runs ``--rounds`` rounds
alternating the two sides (the order flips every round), each
``--seconds`` long; a figure is the median of its rounds.  The one-process
RelStorage poll figure is measured twice, once in each comparison, so that
both sides of a ratio come from the same stretch of time.

Run:  python bench/bench_scale.py
      python bench/bench_scale.py --seconds 3 --rounds 5 --clients 16
"""
import argparse
import itertools
import json
import os
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.servers import Server, write_ini  # noqa: E402
from tests.storage import (  # noqa: E402
    apply_session_settings,
    opened_db,
    start_postgresql,
    zodb_uri_for,
)

USERS = 16
DOCUMENTS = 1000
THREADS = 8
TARGET_TWO_PROCESSES = 1.3
TARGET_WRITES = 0.8


# -- data --------------------------------------------------------------------

def build(uri):
    """Create the users and their documents; return {user id: token}."""
    import transaction

    from myproject.documents import Document
    from myproject.resources import APP_ROOT_NAME, Site

    tokens = {}
    with opened_db(uri) as db:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        with tm:
            site = conn.root()[APP_ROOT_NAME] = Site()
        for n in range(USERS):
            user_id = f"u{n:02d}"
            with tm:
                user = site.users.add(user_id, sets=["messages", "tasks"])
                tokens[user_id] = user.new_token("bench")
                messages = user.tree["messages"]
                for i in range(DOCUMENTS):
                    Document({"id": f"m{i:04d}", "title": f"Message {i}",
                              "body": "The quick brown fox."},
                             owner=user_id).place(messages)
            conn.cacheMinimize()
        conn.close()
    return tokens


# -- servers -------------------------------------------------------------------

def start_server(folder, name, uri, settings=None, log_level="WARN"):
    ini, port = write_ini(folder, uri, name=f"{name}.ini", threads=THREADS,
                          settings={"myproject.push.senders": "log",
                                    **(settings or {})},
                          log_level=log_level)
    return Server(ini, port).start(timeout=60)


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    """CPU seconds all cores spent not idle (nor waiting for I/O), so far."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postgresql_pids(server):
    """The postmaster and its children (backends, writer, ...)."""
    with open(os.path.join(server.datadir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == postmaster:
                pids.append(int(entry))
    return pids


# -- load ----------------------------------------------------------------------

def poll_request(user_id, token, generation):
    request = (f"GET /users/{user_id}?generation={generation} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               "Accept: application/json\r\n\r\n").encode("latin-1")
    return lambda n: request


def write_request(user_id, token, prefix):
    head = (f"POST /users/{user_id}/messages HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\nContent-Type: application/json\r\n")

    ids = itertools.count()  # fresh ids across rounds

    def make(n):
        body = f'{{"id": "{prefix}-{next(ids)}", "text": "hello"}}'.encode("latin-1")
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode(
            "latin-1") + body
    return make


def check_poll(port, request, generation):
    """Check that a poll request is answered {"generation": G}."""
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(request)
        answer = b""
        while not answer.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    body = answer.partition(b"\r\n\r\n")[2]
    if not answer.startswith(b"HTTP/1.1 200 ") or json.loads(body) != {
            "generation": generation}:
        raise RuntimeError(f"unexpected poll answer: {answer[:400]!r}")


def drive(targets, seconds, expect_status, tolerate=()):
    """Keep one request in flight on every (port, make_request) connection.

    Returns (answers with ``expect_status`` completed before the deadline,
    elapsed seconds).  Answers still in flight at the deadline are read but
    not counted; so are answers with a status in ``tolerate`` (any other
    status is an error).
    """
    sel = selectors.DefaultSelector()
    conns = []
    for port, make in targets:
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append([s, make, 0, b""])
    try:
        done, good, counted, elapsed = 0, 0, None, None
        start = time.perf_counter()
        deadline = start + seconds
        for i, conn in enumerate(conns):
            conn[0].sendall(conn[1](0))
            conn[2] = 1
            sel.register(conn[0], selectors.EVENT_READ, i)
        outstanding = len(conns)
        while outstanding:
            events = sel.select(30)
            if not events:
                raise RuntimeError("no answer for 30 s")
            if counted is None and time.perf_counter() >= deadline:
                counted, elapsed = good, time.perf_counter() - start
            for key, _ in events:
                conn = conns[key.data]
                chunk = conn[0].recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                buf = conn[3] + chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    conn[3] = buf
                    continue
                head = buf[:end].lower()
                k = head.find(b"\r\ncontent-length:")
                if k < 0:
                    raise RuntimeError(f"no Content-Length: {buf[:end]!r}")
                e = head.find(b"\r\n", k + 2)
                length = int(head[k + 17:e if e > 0 else len(head)])
                if len(buf) < end + 4 + length:
                    conn[3] = buf
                    continue
                status = int(buf[9:12])
                if (status != expect_status and status not in tolerate
                        or b"connection: close" in head):
                    raise RuntimeError(f"unexpected answer: {buf[:400]!r}")
                conn[3] = b""
                done += 1
                good += status == expect_status
                if counted is None:
                    conn[0].sendall(conn[1](conn[2]))
                    conn[2] += 1
                else:
                    outstanding -= 1
        return counted, elapsed
    finally:
        sel.close()
        for conn in conns:
            conn[0].close()


def measure(sides, seconds, rounds, warmup, expect_status, cpu,
            tolerate=()):
    """Alternate the sides' rounds; return {side: figures}.

    ``sides`` maps a name to (targets, server pids); ``cpu`` maps a column
    name to a function returning the pids to sum for it (beyond servers).
    """
    results = {name: {"rates": [], "cpu": {}, "time": 0.0} for name in sides}
    names = list(sides)
    for name in names:
        drive(sides[name][0], warmup, expect_status, tolerate)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            targets, server_pids = sides[name]
            groups = {"servers": lambda: server_pids}
            groups.update(cpu)
            before = {g: {p: cpu_seconds(p) for p in pids()}
                      for g, pids in groups.items()}
            client_before = time.process_time()
            busy_before = machine_busy_seconds()
            count, elapsed = drive(targets, seconds, expect_status, tolerate)
            res_busy = machine_busy_seconds() - busy_before
            res = results[name]
            res["rates"].append(count / elapsed)
            res["count"] = res.get("count", 0) + count
            res["time"] += elapsed
            for g, pids in groups.items():
                # Processes may come (new database connections) and go.
                after = {p: cpu_seconds(p) for p in pids()}
                used = sum(after[p] - before[g].get(p, 0.0) for p in after)
                res["cpu"][g] = res["cpu"].get(g, 0.0) + used
            res["cpu"]["client"] = res["cpu"].get("client", 0.0) + (
                time.process_time() - client_before)
            res["cpu"]["machine"] = res["cpu"].get("machine", 0.0) + res_busy
    for res in results.values():
        res["rate"] = statistics.median(res["rates"])
        res["cores"] = {g: v / res["time"] for g, v in res["cpu"].items()}
        cores = res["cores"]
        cores["other"] = max(0.0, cores.pop("machine") - sum(cores.values()))
    return results


def rs_over_fs(sides):
    """RelStorage's figure over FileStorage's, of one comparison."""
    return sides["RelStorage"]["rate"] / sides["FileStorage"]["rate"]


def pg_ms_per_request(res):
    """PostgreSQL's CPU milliseconds per answered request, over the rounds."""
    return res["cpu"]["postgresql"] * 1000 / res["count"]


# -- main ----------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="length of one round (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per side of a comparison (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="warm-up seconds per side (default 1)")
    parser.add_argument("--clients", type=int, default=USERS,
                        help=f"keep-alive connections, an even number "
                             f"(default {USERS}: one per user)")
    parser.add_argument("--no-session-settings", dest="session_settings",
                        action="store_false",
                        help="leave out etc/postgresql-session.sql, to "
                             "compare")
    args = parser.parse_args(argv)
    clients = args.clients
    if clients < 2 or clients % 2:
        parser.error("--clients must be even, at least 2")

    started = time.monotonic()
    folder = tempfile.mkdtemp(prefix="myproject-bench-scale-")
    pg = servers = None
    try:
        print(f"{os.cpu_count()} cores; {USERS} users x {DOCUMENTS} documents; "
              f"{clients} keep-alive connections; {args.rounds} rounds of "
              f"{args.seconds:g} s per side", flush=True)
        pg = start_postgresql()
        # The servers' own role and database, as docs/scaling.txt makes them.
        dsn = pg.create_role_database("bench")
        if args.session_settings:
            apply_session_settings(dsn)
        uris = {
            "file": zodb_uri_for("file", os.path.join(folder, "Data.fs")),
            "relstorage": zodb_uri_for("postgresql", dsn, keep_history=False,
                                       cache_local_mb=64),
        }
        tokens = {kind: build(uri) for kind, uri in uris.items()}
        servers = {
            "fs": start_server(folder, "fs", uris["file"]),
            "rs-a": start_server(folder, "rs-a", uris["relstorage"]),
            "rs-b": start_server(folder, "rs-b", uris["relstorage"]),
        }
        locked = {"myproject.tree_lock_dsn": dsn}
        for name, settings in (("hot-a", {}), ("hot-b", {}),
                               ("lock-a", locked), ("lock-b", locked)):
            servers[name] = start_server(folder, name, uris["relstorage"],
                                         settings, log_level="INFO")
        pid = {name: s.process.pid for name, s in servers.items()}
        users = [sorted(tokens["file"])[i % USERS] for i in range(clients)]
        generation = 3 + DOCUMENTS  # two sets, then the documents
        pg_cpu = {"postgresql": lambda: postgresql_pids(pg)}

        def polls(kind, names):
            return [(servers[names[i % len(names)]].port,
                     poll_request(u, tokens[kind][u], generation))
                    for i, u in enumerate(users)]

        def writes(kind, name, side):
            return [(servers[name].port, write_request(u, tokens[kind][u],
                                                       f"{side}{i}"))
                    for i, u in enumerate(users)]

        for kind, names in (("file", ["fs"]), ("relstorage", ["rs-a", "rs-b"])):
            for port, make in polls(kind, names):
                check_poll(port, make(0), generation)

        rows = []
        common = dict(seconds=args.seconds, rounds=args.rounds,
                      warmup=args.warmup, cpu=pg_cpu)
        poll = measure({
            "FileStorage": (polls("file", ["fs"]), [pid["fs"]]),
            "RelStorage": (polls("relstorage", ["rs-a"]), [pid["rs-a"]]),
        }, expect_status=200, **common)
        rows.append(("poll", "FileStorage, 1 process", poll["FileStorage"], ""))
        rows.append(("poll", "RelStorage, 1 process", poll["RelStorage"],
                     f"{rs_over_fs(poll):.2f} RS/FS"))

        scale = measure({
            "one": (polls("relstorage", ["rs-a"]), [pid["rs-a"]]),
            "two": (polls("relstorage", ["rs-a", "rs-b"]),
                    [pid["rs-a"], pid["rs-b"]]),
        }, expect_status=200, **common)
        ratio = scale["two"]["rate"] / scale["one"]["rate"]
        rows.append(("poll", "RelStorage, 1 process", scale["one"], ""))
        rows.append(("poll", "RelStorage, 2 processes", scale["two"],
                     f"{ratio:.2f} 2/1"))

        write = measure({
            "FileStorage": (writes("file", "fs", "f"), [pid["fs"]]),
            "RelStorage": (writes("relstorage", "rs-a", "r"), [pid["rs-a"]]),
        }, expect_status=201, **common)
        rows.append(("write", "FileStorage, 1 process", write["FileStorage"], ""))
        rows.append(("write", "RelStorage, 1 process", write["RelStorage"],
                     f"{rs_over_fs(write):.2f} RS/FS"))

        def hot_writes(names, side, kind="relstorage"):
            user = sorted(tokens[kind])[0]
            return [(servers[names[i % len(names)]].port,
                     write_request(user, tokens[kind][user], f"{side}{i}"))
                    for i in range(clients)]

        one_tree = measure({
            "FileStorage": (hot_writes(["fs"], "t", "file"), [pid["fs"]]),
            "RelStorage": (hot_writes(["rs-a"], "t"), [pid["rs-a"]]),
        }, expect_status=201, **common)
        rows.append(("write", "one tree, FileStorage", one_tree["FileStorage"],
                     ""))
        rows.append(("write", "one tree, RelStorage", one_tree["RelStorage"],
                     f"{rs_over_fs(one_tree):.2f} RS/FS"))

        hot = measure({
            "plain": (hot_writes(["hot-a", "hot-b"], "h"),
                      [pid["hot-a"], pid["hot-b"]]),
            "locked": (hot_writes(["lock-a", "lock-b"], "l"),
                       [pid["lock-a"], pid["lock-b"]]),
        }, expect_status=201, tolerate=(503,), **common)
        rows.append(("write", "one tree, 2 proc., no lock", hot["plain"], ""))
        rows.append(("write", "one tree, 2 proc., lock", hot["locked"],
                     f"{hot['locked']['rate'] / hot['plain']['rate']:.2f} "
                     "lock/no"))
        retries = {}
        for side, names in (("plain", ["hot-a", "hot-b"]),
                            ("locked", ["lock-a", "lock-b"])):
            logs = "".join(servers[name].log(tail=None) for name in names)
            retries[side] = (logs.count("retrying POST"),
                             logs.count("gave up on POST"))

        print()
        print(f"{'':6}{'storage, servers':26}{'req/s':>8}  {'ratio':12}"
              f"{'servers':>8}{'postgres':>9}{'client':>7}{'other':>7}"
              f"  (cores){'PG ms/req':>11}")
        for kind, label, res, note in rows:
            cores = res["cores"]
            print(f"{kind:6}{label:26}{res['rate']:8.0f}  {note:12}"
                  f"{cores['servers']:8.2f}{cores['postgresql']:9.2f}"
                  f"{cores['client']:7.2f}{cores['other']:7.2f}"
                  f"{pg_ms_per_request(res):20.2f}")
        verdict = "met" if ratio >= TARGET_TWO_PROCESSES else "NOT met"
        print(f"\ntwo processes / one, polls on RelStorage: {ratio:.2f} "
              f"(target >= {TARGET_TWO_PROCESSES}: {verdict})")
        for label, side in (("16 users", write), ("one tree", one_tree)):
            w = rs_over_fs(side)
            print(f"writes RelStorage / FileStorage, {label}: {w:.2f} "
                  f"(target >= {TARGET_WRITES}: "
                  f"{'met' if w >= TARGET_WRITES else 'NOT met'}); "
                  f"PostgreSQL CPU per write "
                  f"{pg_ms_per_request(side['RelStorage']):.1f} ms")
        print("PostgreSQL session settings (etc/postgresql-session.sql): "
              + ("on" if args.session_settings else "off"))
        for side, label in (("plain", "no lock"), ("locked", "lock")):
            print(f"one tree, 2 processes, {label}: {retries[side][0]} "
                  f"retries, {retries[side][1]} answers 503 (warm-up "
                  "included)")
        print("rounds (req/s):")
        for kind, label, res, _ in rows:
            print(f"  {kind:6}{label:26}" + " ".join(
                f"{r:6.0f}" for r in res["rates"]))
        connections = pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench'")[0][0]
        print(f"PostgreSQL connections held by the 2 RelStorage processes: "
              f"{connections}")
        print(f"total time {time.monotonic() - started:.0f} s")
        return 0 if ratio >= TARGET_TWO_PROCESSES else 1
    finally:
        for server in (servers or {}).values():
            server.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
