#!/usr/bin/env python
"""First sync of a big tree: one single answer against a paged sync.

For each size (10^4, 10^5, 10^6 documents of about 100 bytes in user
``u``'s ``messages`` set, built directly in a FileStorage with the app's
classes), two fresh ``pserve`` processes serve the same FileStorage one
after the other:

paged    ``GET /users/u?generation=G&limit=1000`` from G = 0, following
         ``more`` with each answer's ``generation``, until done;
single   ``GET /users/u?generation=0&limit=L`` with L above the size (the
         server's ``myproject.sync.max_page_size`` raised for it): the
         whole tree in one answer, as before paging.

Each run reports total time (from the first request until the client has
parsed the last answer: a client must parse what it receives, and the
paged sync parses each page to find its cursor), the latency of pages
(request to body received, p50/p99), bytes
received, and the server's memory: RSS before the sync and its peak
(``VmHWM`` from /proc) during it, in a process that served nothing else.
The first page's latency is the median of 21 requests for it, after the
paged sync.  Ratios are printed with the targets of the paged sync:

- paged total <= 0.3 x the single answer at the largest size;
- server RSS growth during a full paged sync <= 100 MB at the largest size;
- first page at the largest size <= 1.5 x the first page at the smallest.

It also times encoding one page's JSON with the standard library and with
orjson (when installed), to show what JSON encoding costs per page.

Run:  python bench/bench_sync.py                 (under a minute here)
      python bench/bench_sync.py --sizes 10000,100000
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_http import Server  # noqa: E402  (same pserve helper)

PAGE = 1000
BATCH = 10_000
TEXT = "x" * 70  # with the id and the keys: ~100 bytes of JSON a document

APP = """\
use = egg:myproject
zodbconn.uri = file://{data}?connection_cache_size=5000
retry.attempts = 3
myproject.user_sets = messages tasks
myproject.sync.max_page_size = {max_page}"""


def build_storage(path, size):
    """Build user u's tree of size documents; return u's token."""
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
            user = site.users.add("u", sets=["messages", "tasks"])
            token = user.new_token("bench")
        messages = user.tree["messages"]
        for start in range(0, size, BATCH):
            with tm:
                for i in range(start, min(size, start + BATCH)):
                    Document({"id": "d%07d" % i, "text": TEXT},
                             "u").place(messages)
            conn.cacheMinimize()
        conn.close()
    finally:
        db.close()
    return token


def memory(server):
    """(RSS, peak RSS) of the server process in MB."""
    values = {}
    with open(f"/proc/{server.process.pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, generation, limit):
        started = time.perf_counter()
        self.conn.request(
            "GET", f"/users/u?generation={generation}&limit={limit}",
            headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - started
        assert r.status == 200, (r.status, body[:300])
        return elapsed, body

    def close(self):
        self.conn.close()


def paged_sync(port, token, size):
    client = Client(port, token)
    generation, times, received, pages = 0, [], 0, 0
    documents = 0
    started = time.perf_counter()
    while True:
        elapsed, body = client.get(generation, PAGE)
        answer = json.loads(body)
        times.append(elapsed)
        received += len(body)
        pages += 1
        documents += sum(len(entry.get("adds", entry.get("contents", ())))
                         for entry in answer.get("adds", ()))
        generation = answer["generation"]
        if not answer.get("more"):
            break
    total = time.perf_counter() - started
    first = statistics.median(client.get(0, PAGE)[0] for _ in range(21))
    client.close()
    assert documents == size, (documents, size)
    return {"total": total, "pages": pages, "bytes": received,
            "p50": percentile(times, 50), "p99": percentile(times, 99),
            "first": first, "page_body": body_of_a_page(port, token)}


def body_of_a_page(port, token):
    client = Client(port, token)
    _, body = client.get(0, PAGE)
    client.close()
    return json.loads(body)


def single_answer(port, token, size):
    client = Client(port, token)
    started = time.perf_counter()
    elapsed, body = client.get(0, size + 10)
    answer = json.loads(body)
    total = time.perf_counter() - started  # as the paged sync's: parsed
    client.close()
    assert "more" not in answer
    documents = sum(len(entry.get("adds", ())) for entry in answer["adds"])
    assert documents == size, (documents, size)
    return {"total": total, "pages": 1, "bytes": len(body),
            "p50": elapsed, "p99": elapsed}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def served(folder, name, data, size, measure, token):
    server = Server(folder, name, APP.format(data=data, max_page=size + 10),
                    threads=4)
    server.start(timeout=120)
    try:
        rss_before, _ = memory(server)
        result = measure(server.port, token, size)
        _, peak = memory(server)
        result["rss_before"], result["rss_peak"] = rss_before, peak
        return result
    finally:
        server.stop()


def encoding_costs(page, repeat=50):
    """Seconds to encode one page with json and with orjson (or None)."""
    def best(encode):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            encode(page)
            times.append(time.perf_counter() - started)
        return min(times)
    try:
        import orjson
    except ImportError:
        orjson = None
    return (best(json.dumps),
            best(orjson.dumps) if orjson is not None else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dir", default=None,
                        help="folder for the FileStorages (default: a "
                             "temporary folder in /dev/shm if it exists)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    base = options.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    rows = {}
    with tempfile.TemporaryDirectory(dir=base) as folder:
        for size in sizes:
            data = os.path.join(folder, f"Data-{size}.fs")
            started = time.perf_counter()
            token = build_storage(data, size)
            built = time.perf_counter() - started
            paged = served(folder, f"paged-{size}", data, size,
                           paged_sync, token)
            single = served(folder, f"single-{size}", data, size,
                            single_answer, token)
            rows[size] = (paged, single)
            print(f"  built {size:,} documents in {built:.0f} s; measured",
                  file=sys.stderr, flush=True)
            os.unlink(data)
    report(sizes, rows)


def report(sizes, rows):
    print(f"first sync of one user's tree: paged (limit {PAGE}) vs one "
          f"single answer; pserve on a FileStorage, 2 CPUs, "
          f"Python {sys.version.split()[0]}")
    print()
    header = (f"{'documents':>10} {'mode':<7} {'total s':>8} {'pages':>6} "
              f"{'p50 ms':>8} {'p99 ms':>8} {'MB sent':>8} "
              f"{'RSS MB':>7} {'peak MB':>8} {'growth':>7}")
    print(header)
    for size in sizes:
        for name, r in zip(("paged", "single"), rows[size]):
            print(f"{size:>10,} {name:<7} {r['total']:>8.2f} {r['pages']:>6} "
                  f"{r['p50'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f} "
                  f"{r['bytes'] / 1e6:>8.1f} {r['rss_before']:>7.0f} "
                  f"{r['rss_peak']:>8.0f} "
                  f"{r['rss_peak'] - r['rss_before']:>7.0f}")
    print()
    print(f"{'documents':>10} {'paged/single':>13} {'first page ms':>14}")
    for size in sizes:
        paged, single = rows[size]
        print(f"{size:>10,} {paged['total'] / single['total']:>13.2f} "
              f"{paged['first'] * 1000:>14.1f}")
    largest, smallest = sizes[-1], sizes[0]
    paged, single = rows[largest]
    ratio = paged["total"] / single["total"]
    growth = paged["rss_peak"] - paged["rss_before"]
    first = paged["first"] / rows[smallest][0]["first"]
    checks = [
        (f"paged total / single at {largest:,}", ratio, "<= 0.30",
         ratio <= 0.30),
        (f"server RSS growth, paged sync of {largest:,} (MB)", growth,
         "<= 100", growth <= 100),
        (f"first page at {largest:,} / at {smallest:,}", first, "<= 1.50",
         first <= 1.50),
    ]
    print()
    for label, value, target, met in checks:
        print(f"  {label:<48} {value:>8.2f}  target {target}: "
              f"{'met' if met else 'NOT met'}")
    plain, fast = encoding_costs(paged["page_body"])
    print()
    line = (f"  encoding one page of {PAGE} documents: json {plain * 1e3:.2f}"
            " ms")
    if fast is not None:
        line += f", orjson {fast * 1e3:.2f} ms"
    print(line)
    print(f"  (the paged sync's median page took {paged['p50'] * 1e3:.1f} ms)")
    print()
    print("command: python bench/bench_sync.py")


if __name__ == "__main__":
    main()
