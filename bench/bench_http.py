#!/usr/bin/env python
"""HTTP throughput of the sync API against a bare WSGI app, in one run.

Two ``pserve`` processes serve on 127.0.0.1 with the same waitress settings
(``egg:waitress#main``, the same ``threads``):

app    myproject on a FileStorage in a temporary folder, holding user
       ``alice`` whose ``messages`` set has 10,000 documents;
bare   a WSGI app of a dozen lines that answers every request with the
       status, headers and JSON body the app gave for the scenario being
       measured (captured from the app just before), so the bodies have the
       same size.  It reads a request body when there is one and does nothing
       else.

Scenarios (each request carries ``Authorization: Bearer <alice's token>``):

a-poll   ``GET /users/alice?generation=G``, G current: ``{"generation": G}``
a-304    the same with ``If-None-Match: "G"``: ``304 Not Modified``
b-poll   ``GET /users/alice?generation=G0`` where exactly 10 documents of the
         10,000 changed since G0: the 10 documents, about 1 KB of JSON
c-write  ``POST /users/alice/tasks`` of a new small document (a fresh id
         each time, no ``generation``): ``201`` and the document

The tree is built directly in the FileStorage with the app's classes
(``Site``, ``Users.add``, ``Document.place``) before the app server starts,
then 10 documents are changed with ``Document.replace``; G0 is the
generation before those changes.  The writes run last, so that a-poll and
b-poll see the tree as built.

Load: one client process (this one), a single thread driving ``--clients``
keep-alive HTTP/1.1 connections through ``selectors``, one request in
flight per connection, request bytes prepared in advance and responses
parsed just enough to check the status and the Content-Length.  The machine
this was written for has 2 cores: a Python server is bound to about one core
by its GIL, so one lean client process leaves the other core to the server;
more client processes (or http.client, several times dearer per request)
would take CPU from the server and lower its figure.  The app and the bare
app get exactly the same client, connections and request bytes.  The table
of CPU use shows, for every measurement, how many cores the server and the
client used: a client near 1.0 core means that figure is client-bound.

For every scenario, after a short warm-up of each server, ``--rounds``
rounds alternate app and bare (the order flips every round), each lasting
``--seconds / --rounds``; a figure is the median of its rounds' req/s.
Targets (app / bare): a-poll >= 0.60, b-poll >= 0.45, every request going
through Pyramid's router (the polls through the shortcut tween of
``myproject.views.poll``; ``--setting myproject.poll_fast_path=false``
sends them through traversal instead, to compare).

Both servers log at WARN, except waitress's "Task queue depth" warning,
which it would write for most requests here (more connections than
threads) at a cost to both.  Waitress closes the connection after every 304 (a response without a
Content-Length), so in a-304 the client opens a new connection for every
request, against both servers.  Besides req/s the run reports the server's
CPU time per request (from /proc) and its ratio bare/app, which other load
on the machine disturbs less than req/s.

Run:  python bench/bench_http.py
      python bench/bench_http.py --seconds 8 --clients 8 --threads 4
      python bench/bench_http.py --setting myproject.poll_fast_path=false
"""
import argparse
import http.client
import itertools
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONTROL_PATH = "/__bare__"

DOCUMENTS = 10_000
CHANGED = 10
BATCH = 1000
TARGETS = {"a-poll": 0.60, "b-poll": 0.45}

SERVER_INI = """\
[app:main]
{app}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = {threads}

[loggers]
keys = root, queue

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

# waitress warns "Task queue depth is N" for every request that waits for
# a thread: with more connections than threads that is most of them.
[logger_queue]
level = ERROR
handlers =
qualname = waitress.queue

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""

APP = """\
use = egg:myproject
zodbconn.uri = file://{data}?connection_cache_size=20000
retry.attempts = 3
myproject.user_sets = messages tasks"""

BARE = "use = call:bench_http:bare_app_factory"


# The bare app (imported by its pserve process: keep this module's imports
# to the standard library at the top).

_answer = ("200 OK", [("Content-Type", "application/json")], b"{}")


def bare_app(environ, start_response):
    """Answer with the canned response; a PUT to CONTROL_PATH sets it."""
    global _answer
    length = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(length)) if length else b""
    if environ["PATH_INFO"] == CONTROL_PATH:
        spec = json.loads(body)
        _answer = (spec["status"], [tuple(h) for h in spec["headers"]],
                   spec["body"].encode("latin-1"))
        start_response("204 No Content", [])
        return []
    status, headers, answer = _answer
    start_response(status, list(headers))
    return [answer]


def bare_app_factory(global_config, **settings):
    return bare_app


# Servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A pserve child process on 127.0.0.1."""

    def __init__(self, folder, name, app_section, threads):
        self.port = free_port()
        self.ini = os.path.join(folder, name + ".ini")
        self.log_path = self.ini + ".log"
        with open(self.ini, "w") as f:
            f.write(SERVER_INI.format(app=app_section, port=self.port,
                                      threads=threads))
        self.process = None

    def start(self, timeout=60):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (HERE, env.get("PYTHONPATH")) if p)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pyramid.scripts.pserve", self.ini],
                stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pserve exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"pserve did not listen in {timeout}s: {self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def cpu_seconds(self):
        """User + system CPU time of the server process (all its threads)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def fetch(port, method, path, headers=(), body=None):
    """One request on a fresh connection: (status, header list, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        r = conn.getresponse()
        return r.status, r.reason, r.getheaders(), r.read()
    finally:
        conn.close()


HOP_BY_HOP = {"server", "date", "connection", "keep-alive", "via"}


def set_bare_answer(port, status, reason, headers, body):
    spec = {
        "status": f"{status} {reason}",
        "headers": [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP],
        "body": body.decode("latin-1"),
    }
    got = fetch(port, "PUT", CONTROL_PATH, body=json.dumps(spec).encode())
    assert got[0] == 204, got


# The data

def build_storage(path):
    """Build alice's 10,000-document tree; return (token, G0, G1, ids)."""
    import transaction
    import ZODB
    import ZODB.FileStorage

    from myproject.documents import Document
    from myproject.resources import APP_ROOT_NAME, Site

    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    try:
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        with tm:
            site = conn.root()[APP_ROOT_NAME] = Site()
            user = site.users.add("alice", sets=["messages", "tasks"])
            token = user.new_token("bench")
        messages = user.tree["messages"]
        for start in range(0, DOCUMENTS, BATCH):
            with tm:
                for i in range(start, start + BATCH):
                    Document(document_data(i), owner="alice").place(messages)
            conn.cacheMinimize()
        g0 = user.tree.generation
        step = DOCUMENTS // CHANGED
        changed = [f"m{i:05d}" for i in range(step // 2, DOCUMENTS, step)]
        with tm:
            for doc_id in changed:
                doc = Document.of(messages[doc_id], messages)
                title = doc.data["title"] + " (edited)"
                doc.replace(dict(doc.data, title=title, edited=True))
        g1 = user.tree.generation
        conn.close()
    finally:
        db.close()
    return token, g0, g1, changed


def document_data(i):
    return {"id": f"m{i:05d}", "title": f"Message {i}",
            "body": "The quick brown fox jumps over the lazy dog.", "n": i}


# The load

def request_bytes(method, target, token, headers=(), body=None):
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1",
             f"Authorization: Bearer {token}", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        lines += ["Content-Type: application/json",
                  f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def drive(port, make_request, clients, seconds, expect_status, expect_length):
    """Keep ``clients`` connections busy for ``seconds``; return the counts.

    ``make_request(client, n)`` returns the bytes of a client's n-th request.
    Returns (responses completed before the deadline, elapsed seconds,
    connections the server closed and the client opened again).  Responses
    in flight at the deadline are read, not counted.  A response with
    ``Connection: close`` (waitress sends it with every 304) makes its
    client connect again before its next request, as an HTTP client would.
    """
    sel = selectors.DefaultSelector()
    socks = [_connect(port) for _ in range(clients)]
    try:
        buffers = [b""] * clients
        sent = [1] * clients
        done, counted, elapsed, reconnects = 0, None, None, 0
        outstanding = clients
        start = time.perf_counter()
        deadline = start + seconds
        for i, s in enumerate(socks):
            s.sendall(make_request(i, 0))
            sel.register(s, selectors.EVENT_READ, i)
        while outstanding:
            events = sel.select(30)
            if not events:
                raise RuntimeError("no answer for 30 s")
            if counted is None:
                now = time.perf_counter()
                if now >= deadline:
                    counted, elapsed = done, now - start
            for key, _ in events:
                i, s = key.data, key.fileobj
                chunk = s.recv(262144)
                if not chunk:
                    raise RuntimeError("the server closed a connection "
                                       "in the middle of an answer")
                buf = buffers[i] + chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    buffers[i] = buf
                    continue
                status = int(buf[9:12])
                head = buf[:end].lower()
                if status in (204, 304):
                    length = 0
                else:
                    k = head.find(b"\r\ncontent-length:")
                    if k < 0:
                        raise RuntimeError(f"no Content-Length: {buf[:end]!r}")
                    e = head.find(b"\r\n", k + 2)
                    length = int(head[k + 17:e if e > 0 else len(head)])
                total = end + 4 + length
                if len(buf) < total:
                    buffers[i] = buf
                    continue
                if len(buf) > total:
                    raise RuntimeError(f"more than one answer: {buf!r}")
                if status != expect_status or (
                        expect_length is not None and length != expect_length):
                    raise RuntimeError(
                        f"unexpected answer {status} ({length} bytes, "
                        f"expected {expect_status}/{expect_length}): "
                        f"{buf[:600]!r}")
                buffers[i] = b""
                done += 1
                if b"\r\nconnection: close" in head:
                    sel.unregister(s)
                    s.close()
                    if counted is None:
                        s = socks[i] = _connect(port)
                        sel.register(s, selectors.EVENT_READ, i)
                        reconnects += 1
                if counted is None:
                    s.sendall(make_request(i, sent[i]))
                    sent[i] += 1
                else:
                    outstanding -= 1
        return counted, elapsed, reconnects
    finally:
        sel.close()
        for s in socks:
            s.close()


class Measure:
    """Alternating app/bare rounds for one scenario, with CPU use."""

    def __init__(self, servers, clients):
        self.servers = servers
        self.clients = clients

    def run(self, make_request, expect_status, expect_length, seconds,
            rounds, warmup):
        results = {name: {"rates": [], "server_cpu": 0.0, "client_cpu": 0.0,
                          "time": 0.0, "reconnects": 0, "count": 0}
                   for name in self.servers}
        names = list(self.servers)
        for name in names:
            drive(self.servers[name].port, make_request, self.clients, warmup,
                  expect_status, expect_length)
        for r in range(rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                server = self.servers[name]
                server_cpu = server.cpu_seconds()
                client_cpu = time.process_time()
                count, elapsed, reconnects = drive(
                    server.port, make_request, self.clients, seconds / rounds,
                    expect_status, expect_length)
                result = results[name]
                result["rates"].append(count / elapsed)
                result["server_cpu"] += server.cpu_seconds() - server_cpu
                result["client_cpu"] += time.process_time() - client_cpu
                result["time"] += elapsed
                result["reconnects"] += reconnects
                result["count"] += count
        return {name: {"rate": statistics.median(res["rates"]),
                       "rates": res["rates"],
                       "server_cores": res["server_cpu"] / res["time"],
                       "client_cores": res["client_cpu"] / res["time"],
                       "new_connections": res["reconnects"] / res["count"],
                       "server_us": res["server_cpu"] / res["count"] * 1e6}
                for name, res in results.items()}


# The run

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measuring seconds per scenario and server "
                             "(default 8)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds per scenario (default 4)")
    parser.add_argument("--clients", type=int, default=8,
                        help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--threads", type=int, default=4,
                        help="waitress threads of both servers (default 4, "
                             "waitress's own default)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="warm-up seconds per scenario and server")
    parser.add_argument("--setting", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="an app setting to add (may be repeated)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (printed)")
    args = parser.parse_args(argv)
    command = " ".join(["python", os.path.relpath(os.path.abspath(__file__))]
                       + (sys.argv[1:] if argv is None else list(argv)))

    began = time.monotonic()
    load_before = os.getloadavg()[0]
    folder = tempfile.mkdtemp(prefix="bench_http-")
    servers = {}
    try:
        t = time.monotonic()
        token, g0, g1, changed = build_storage(os.path.join(folder, "Data.fs"))
        print(f"built {DOCUMENTS} documents, {CHANGED} changed since "
              f"generation {g0} (now {g1}) in {time.monotonic() - t:.1f} s",
              file=sys.stderr)
        app_section = "\n".join(
            [APP.format(data=os.path.join(folder, "Data.fs"))]
            + [" = ".join(s.split("=", 1)) for s in args.setting])
        servers["app"] = Server(folder, "app", app_section, args.threads)
        servers["bare"] = Server(folder, "bare", BARE, args.threads)
        for server in servers.values():
            server.start()
        app_port, bare_port = servers["app"].port, servers["bare"].port
        measure = Measure(servers, args.clients)
        auth = [("Authorization", f"Bearer {token}")]
        rows = []

        def scenario(name, method, target, headers=(), make_body=None,
                     check=None):
            body0 = make_body() if make_body else None
            content_type = [("Content-Type", "application/json")] * bool(body0)
            status, reason, resp_headers, answer = fetch(
                app_port, method, target, auth + list(headers) + content_type,
                body0)
            if check is not None:
                check(status, answer)
            set_bare_answer(bare_port, status, reason, resp_headers, answer)
            if make_body is None:
                fixed = request_bytes(method, target, token, headers)

                def make_request(client, n):
                    return fixed
            else:
                def make_request(client, n):
                    return request_bytes(method, target, token, headers,
                                         make_body())
            result = measure.run(make_request, status, len(answer),
                                 args.seconds, args.rounds, args.warmup)
            rows.append((name, len(answer), result, f"{method} {target}"
                         + "".join(f" [{k}: {v}]" for k, v in headers)))
            print(f"{name}: app {result['app']['rate']:.0f} req/s, "
                  f"bare {result['bare']['rate']:.0f} req/s", file=sys.stderr)

        def check_a(status, answer):
            assert status == 200, (status, answer)
            assert json.loads(answer) == {"generation": g1}, answer

        def check_304(status, answer):
            assert status == 304 and answer == b"", (status, answer)

        def check_b(status, answer):
            value = json.loads(answer)
            assert status == 200 and value["generation"] == g1, answer
            [messages] = value["adds"]
            assert messages["set"] == "messages" and "removals" not in messages
            assert sorted(d["id"] for d in messages["adds"]) == changed, answer

        def check_c(status, answer):
            assert status == 201, (status, answer)

        fresh = itertools.count()

        def new_document():
            return json.dumps({"id": f"w{next(fresh):09d}",
                               "title": "A new task", "done": False}).encode()

        scenario("a-poll", "GET", f"/users/alice?generation={g1}",
                 check=check_a)
        scenario("a-304", "GET", f"/users/alice?generation={g1}",
                 headers=[("If-None-Match", f'"{g1}"')], check=check_304)
        scenario("b-poll", "GET", f"/users/alice?generation={g0}",
                 check=check_b)
        scenario("c-write", "POST", "/users/alice/tasks",
                 make_body=new_document, check=check_c)
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print_report(rows, args, command, time.monotonic() - began,
                 (load_before, os.getloadavg()[0]))
    return 0 if all(
        result["app"]["rate"] / result["bare"]["rate"] >= TARGETS[name]
        for name, _, result, _ in rows if name in TARGETS) else 1


def print_report(rows, args, command, took, load):
    print()
    print(f"HTTP throughput, app / bare WSGI app on waitress "
          f"(threads={args.threads}, {args.clients} keep-alive connections, "
          f"loopback, {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print()
    print(f"{'scenario':<9} {'body B':>6} {'app req/s':>10} "
          f"{'bare req/s':>10} {'ratio':>6} {'target':>7} {'ok':>3}")
    for name, size, result, _ in rows:
        app, bare = result["app"]["rate"], result["bare"]["rate"]
        ratio = app / bare
        target = TARGETS.get(name)
        print(f"{name:<9} {size:>6} {app:>10.0f} {bare:>10.0f} {ratio:>6.2f} "
              + (f"{'>= ' + format(target, '.2f'):>7} "
                 f"{'yes' if ratio >= target else 'NO':>3}"
                 if target else f"{'-':>7} {'':>3}"))
    print()
    print("CPU while measuring: cores used by the server (the pserve process)"
          " and the client (this")
    print("process); server CPU per request in microseconds and its ratio "
          "bare/app (less sensitive")
    print("to other load on the machine than req/s); new conn: share of "
          "requests that needed a new")
    print("connection (waitress closes the connection after every 304).")
    print(f"{'scenario':<9} {'app srv':>7} {'app cli':>7} {'bare srv':>8} "
          f"{'bare cli':>8} {'app us':>7} {'bare us':>7} {'cpu ratio':>9} "
          f"{'new conn':>8}")
    for name, _, result, what in rows:
        app, bare = result["app"], result["bare"]
        print(f"{name:<9} {app['server_cores']:>7.2f} "
              f"{app['client_cores']:>7.2f} {bare['server_cores']:>8.2f} "
              f"{bare['client_cores']:>8.2f} "
              f"{app['server_us']:>7.0f} {bare['server_us']:>7.0f} "
              f"{bare['server_us'] / app['server_us']:>9.2f} "
              f"{app['new_connections']:>8.2f}")
    print()
    print("requests (Authorization: Bearer <token> on every one):")
    for name, _, _, what in rows:
        print(f"  {name:<9} {what}")
    print()
    print(f"1-minute load average before / after the run: {load[0]:.2f} / "
          f"{load[1]:.2f}")
    print(f"command: {command}   (took {took:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
