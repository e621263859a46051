#!/usr/bin/env python
"""Per-operation cost of our generational set against the original.

Compares ``myproject.generationalset.GSet`` ("ours") with
``zc.generationalset.GSet`` 0.4.0 ("original", installed with the ``bench``
extra) in one run, so that the ratios ours/original mean something on a noisy
machine even when the absolute times do not.

For every size n (default 10^4, 10^5, 10^6) each implementation gets one set
of n members, built once through its own ``add`` and reused for every
measurement; the sets of all sizes live side by side (about 450 MB at the
defaults).  Members are small objects with an ``id`` attribute (a class with
``__slots__``), ids are even integers; members added by the benchmark get
fresh odd ids, never used before, spread over the whole id range.  Each
round does, for every size and each implementation:

``add``        add ``--batch`` new members
``changed``    ``changed`` on ``--batch`` random existing members
``updates10``  ``generational_updates(g)`` for a client at g, after 10 random
               members changed since g (those changes, and in zodb mode their
               commit, are untimed)
``uptodate``   ``generational_updates(g)`` with g the current generation
``len``        ``len(s)``, as implemented: the original walks its BTree
``remove``     remove the members this round's ``add`` added

in two modes:

memory   the set is not in a database.
zodb     the set is stored in a FileStorage (in a temporary directory, each
         implementation in its own storage, connection and transaction
         manager) and committed; then every write batch (add, changed,
         remove) is timed *including* ``transaction.commit()`` of that batch,
         so the figure is op cost + commit cost / ``--batch``.  Reads
         (updates, len) are timed in the connection after the commit; they
         write nothing, so there is nothing to commit.  The connection cache
         is large enough (``--cache-size``) to keep the whole set resident.

The two implementations are interleaved op by op, back to back, and the
order alternates from one op and one round to the next.  A read is timed as
a loop of calls sized once (in an untimed warm-up round) to last about
``--read-ms``, run ``--chunks`` times per implementation and round,
alternating, the fastest loop kept.  Times are taken with
``time.perf_counter_ns``; ns/op is the median (or ``--stat min``) over
``--repeat`` rounds of time/ops, and
ours/orig the median of the per-round ratios (pairing cancels most of the
drift of a busy machine), shown with their quartiles as the spread.  Cyclic
garbage collection is off while timing and run between measurements, as
``timeit`` does; the built sets are moved out of its reach (``gc.freeze``).

Targets: every ratio ours/original <= 1.0 (to two decimals), and updates
flat in n: ``updates10`` ns/op at the largest n over that at the smallest n
<= 1.5 for ours (also a median of per-round ratios: every round visits every
size).  ``len`` of the original walks its BTree (O(n)); ours is a
counter (O(1)): both are shown as measured.  Read loops include the loop's
own cost (a few tens of ns per call), the same for both.

The FileStorages live in ``--dir``, by default ``/dev/shm`` where there is
one: a commit's fsync on a real disk costs the same for both but its
latency varies enough from one commit to the next to blur the ratios.

Run:  python bench/bench_generationalset.py
      python bench/bench_generationalset.py --quick
      python bench/bench_generationalset.py --sizes 10000,100000 --repeat 81
"""
import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from importlib.metadata import version as _dist_version

import transaction
import ZODB
import ZODB.FileStorage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from myproject import generationalset as ours_module  # noqa: E402

try:
    import zc.generationalset as original_module
except ImportError:  # pragma: no cover
    sys.exit("zc.generationalset 0.4.0 is needed: pip install -e '.[bench]'")


class Item:
    """A small member: an id and a little payload."""

    __slots__ = ("id", "value")

    def __init__(self, id, value=0):
        self.id = id
        self.value = value


OPS = [  # (key, label), in the order of a round
    ("add", "add (new member)"),
    ("changed", "changed"),
    ("updates10", "updates, 10 changed"),
    ("uptodate", "updates, up to date"),
    ("len", "len"),
    ("remove", "remove"),
]

IMPLS = [("ours", ours_module), ("original", original_module)]


def fmt_n(n):
    exponent = len(str(n)) - 1
    if n == 10 ** exponent:
        return "10^%d" % exponent
    return str(n)


def fmt_ns(ns):
    if ns >= 100:
        return "{:,.0f}".format(ns)
    return "{:.1f}".format(ns)


class Subject:
    """One implementation's set of one size, and its database if stored."""

    def __init__(self, name, module, n):
        self.name = name
        self.module = module
        self.n = n
        self.set = module.GSet()
        self.members = []
        self.tm = None
        self.db = None
        self.conn = None
        self.added = []
        self.read_calls = {}

    def build(self):
        add = self.set.add
        members = self.members
        for i in range(self.n):
            ob = Item(2 * i)
            add(ob)
            members.append(ob)

    def store(self, directory, cache_size):
        path = os.path.join(directory, "%s-%d.fs" % (self.name, self.n))
        self.db = ZODB.DB(ZODB.FileStorage.FileStorage(path),
                          cache_size=cache_size)
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        self.conn.root()["set"] = self.set
        self.tm.commit()

    def close(self):
        if self.conn is not None:
            self.tm.abort()
            self.conn.close()
            self.db.close()
            self.conn = self.db = self.tm = None

    def commit(self):
        if self.tm is not None:
            self.tm.commit()


def _timed_batch(op, obs, commit):
    """Return (ns taken by op on every ob, then commit(); len(obs))."""
    t0 = time.perf_counter_ns()
    for ob in obs:
        op(ob)
    commit()
    return time.perf_counter_ns() - t0, len(obs)


class Bench:

    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        # results[mode][n][op][impl] = [ns/op per round]
        self.results = {}

    # Writes: each returns (elapsed ns, number of ops); setup is untimed.

    def write_add(self, subject, plan):
        obs = [Item(id) for id in plan["fresh"]]
        timed = _timed_batch(subject.set.add, obs, subject.commit)
        subject.added = obs
        return timed

    def write_changed(self, subject, plan):
        obs = [subject.members[i] for i in plan["changed"]]
        return _timed_batch(subject.set.changed, obs, subject.commit)

    def write_remove(self, subject, plan):
        obs, subject.added = subject.added, []
        return _timed_batch(subject.set.remove, obs, subject.commit)

    # Reads: each prepares (untimed) and returns (function, argument), the
    # call to time.

    def read_updates10(self, subject, plan):
        s = subject.set
        generation = s.generation
        for i in plan["ten"]:
            s.changed(subject.members[i])
        subject.commit()
        updates = s.generational_updates(generation)
        assert len(updates["adds"]) == 10 and "contents" not in updates, (
            subject.name, sorted(updates))
        return s.generational_updates, generation

    def read_uptodate(self, subject, plan):
        s = subject.set
        generation = s.generation
        assert s.generational_updates(generation) == {
            "generation": generation}
        return s.generational_updates, generation

    def read_len(self, subject, plan):
        s = subject.set
        assert len(s) == subject.n + len(subject.added)
        return len, s

    def calls(self, subject, op, function, argument):
        """Return how many calls make a loop of about --read-ms."""
        calls = subject.read_calls.get(op)
        if calls is None:
            calls, target = 1, self.args.read_ms * 1e6
            while (_loop(function, argument, calls) < target
                   and calls < 1 << 20):
                calls *= 2
            subject.read_calls[op] = calls
        return calls

    # Rounds

    def plan(self, n, used):
        rng = self.rng
        fresh = []
        while len(fresh) < self.args.batch:
            id = 2 * rng.randrange(n) + 1
            for _ in range(100):  # for a small n, odd ids may run out
                if id not in used:
                    break
                id = 2 * rng.randrange(n) + 1
            else:
                id = 2 * (n + len(used)) + 1
            used.add(id)
            fresh.append(id)
        return {
            "fresh": fresh,
            "changed": [rng.randrange(n) for _ in range(self.args.batch)],
            "ten": rng.sample(range(n), 10),
        }

    def rounds(self, mode, groups):
        """Run the rounds of one mode over every size: groups {n: subjects}."""
        used = {n: set() for n in groups}
        chunks = self.args.chunks
        total = self.args.repeat + 1  # the first round warms up, uncounted
        for r in range(total):
            for j, (n, subjects) in enumerate(sorted(groups.items())):
                record = self.results.setdefault(mode, {}).setdefault(n, {})
                plan = self.plan(n, used[n])
                for k, (op, _) in enumerate(OPS):
                    order = subjects[::1 if (r + j + k) % 2 == 0 else -1]
                    samples = self.measure(op, order, plan, chunks)
                    if r:
                        for name, ns in samples.items():
                            record.setdefault(op, {}).setdefault(
                                name, []).append(ns)
            gc.collect()

    def measure(self, op, order, plan, chunks):
        """Time op for each subject, in this order; return {name: ns/op}."""
        write = getattr(self, "write_" + op, None)
        if write is not None:
            samples = {}
            for subject in order:
                with _no_gc():
                    elapsed, count = write(subject, plan)
                samples[subject.name] = elapsed / count
            return samples
        # A read: ``chunks`` loops per implementation, alternating A B B A
        # ..., keeping each one's fastest loop (a loop that the machine
        # interrupted does not tell the op's cost).
        read = getattr(self, "read_" + op)
        loops = {}
        for subject in order:
            function, argument = read(subject, plan)
            loops[subject.name] = (
                function, argument,
                self.calls(subject, op, function, argument))
        best = {}
        for c in range(chunks):
            for subject in (order if c % 2 == 0 else order[::-1]):
                function, argument, calls = loops[subject.name]
                with _no_gc():
                    elapsed = _loop(function, argument, calls)
                best[subject.name] = min(best.get(subject.name, elapsed),
                                         elapsed)
        return {name: best[name] / loops[name][2] for name in best}

    def run(self):
        """Build every set, then run the rounds of each mode on them all."""
        args = self.args
        t0 = time.perf_counter()
        groups = {}
        for n in args.sizes:
            groups[n] = [Subject(name, module, n) for name, module in IMPLS]
            for subject in groups[n]:
                subject.build()
            log("n=%s: built both sets (%.1fs)"
                % (fmt_n(n), time.perf_counter() - t0))
        gc.collect()
        gc.freeze()  # keep the built sets out of every later collection
        try:
            if "memory" in args.modes:
                t1 = time.perf_counter()
                self.rounds("memory", groups)
                log("memory rounds in %.1fs" % (time.perf_counter() - t1))
            if "zodb" in args.modes:
                with tempfile.TemporaryDirectory(prefix="bench-gset-",
                                                 dir=args.dir) as d:
                    t1 = time.perf_counter()
                    try:
                        for n, subjects in groups.items():
                            for subject in subjects:
                                subject.read_calls = {}
                                subject.store(d, args.cache_size)
                        log("stored every set in its FileStorage in %.1fs"
                            % (time.perf_counter() - t1))
                        t1 = time.perf_counter()
                        self.rounds("zodb", groups)
                        log("zodb rounds in %.1fs"
                            % (time.perf_counter() - t1))
                    finally:
                        for subjects in groups.values():
                            for subject in subjects:
                                subject.close()
        finally:
            groups.clear()
            gc.unfreeze()
            gc.collect()

    # Report

    def figure(self, values):
        if self.args.stat == "min":
            return min(values)
        return statistics.median(values)

    def ratio(self, mine, theirs):
        """Return (ratio, p25, p75) of ours/original.

        Both are measured back to back in every round, so the ratio is taken
        per round (pairing cancels the drift of a noisy machine) and the
        median kept, with its quartiles as the spread; with ``--stat min``
        it is min/min.
        """
        ratios = sorted(a / b for a, b in zip(mine, theirs))
        if len(ratios) > 1:
            q = statistics.quantiles(ratios, n=4)
        else:
            q = ratios * 3
        if self.args.stat == "min":
            return min(mine) / min(theirs), q[0], q[2]
        return statistics.median(ratios), q[0], q[2]

    def flatness(self, small, large):
        """Return the cost at the largest n over that at the smallest.

        Every round measures every size, so this too is a median of
        per-round ratios (or min/min with ``--stat min``).
        """
        if self.args.stat == "min":
            return min(large) / min(small)
        return statistics.median(b / a for a, b in zip(small, large))

    def report(self):
        args = self.args
        out = []
        w = out.append
        w("")
        w("generational sets: ours (myproject %s) vs original "
          "(zc.generationalset %s)" % (_version("myproject"),
                                      _version("zc.generationalset")))
        w("Python %s, %s, %d CPUs; sizes %s; %d rounds after 1 warm-up "
          "round; writes: batches of %d ops; reads: best of %d loops of "
          "~%g ms"
          % (platform.python_version(), platform.machine(),
             os.cpu_count() or 0, ",".join(str(n) for n in args.sizes),
             args.repeat, args.batch, args.chunks, args.read_ms))
        if args.stat == "min":
            w("ns/op: min over rounds; ours/orig: min/min; spread: "
              "quartiles of the per-round ratios")
        else:
            w("ns/op: median over rounds; ours/orig: median of the per-round "
              "ratios (both measured back to back in each round); spread: "
              "their quartiles")
        failures = []
        for mode in args.modes:
            if mode not in self.results:
                continue
            w("")
            if mode == "memory":
                w("[memory] set not in a database")
            else:
                w("[zodb] set in a FileStorage (in %s); add/changed/remove "
                  "timed with one commit per %d ops (commit cost / %d in "
                  "each op); updates and len timed after the commit"
                  % (args.dir or tempfile.gettempdir(), args.batch,
                     args.batch))
            w("%-21s %5s %12s %12s %10s %12s" % (
                "op", "n", "ours ns/op", "orig ns/op", "ours/orig",
                "spread"))
            for op, label in OPS:
                for n in args.sizes:
                    cell = self.results[mode].get(n, {}).get(op)
                    if not cell:
                        continue
                    ratio, lo, hi = self.ratio(cell["ours"], cell["original"])
                    over = round(ratio, 2) > 1.0
                    if over:
                        failures.append("%s %s n=%s: %.2f"
                                        % (mode, op, fmt_n(n), ratio))
                    w("%-21s %5s %12s %12s %10.2f %5.2f-%-5.2f%s" % (
                        label, fmt_n(n), fmt_ns(self.figure(cell["ours"])),
                        fmt_ns(self.figure(cell["original"])), ratio, lo, hi,
                        "  > 1.0" if over else ""))
            sizes = [n for n in args.sizes
                     if "updates10" in self.results[mode].get(n, {})]
            if len(sizes) >= 2:
                lo, hi = min(sizes), max(sizes)
                flat = {}
                for name in ("ours", "original"):
                    flat[name] = self.flatness(
                        self.results[mode][lo]["updates10"][name],
                        self.results[mode][hi]["updates10"][name])
                over = round(flat["ours"], 2) > 1.5
                w("updates flat in n: updates10 at %s / at %s = %.2f "
                  "ours (target <= 1.5), %.2f original%s"
                  % (fmt_n(hi), fmt_n(lo), flat["ours"], flat["original"],
                     "  > 1.5" if over else ""))
                if over:
                    failures.append("%s updates flat in n: %.2f"
                                    % (mode, flat["ours"]))
        w("")
        if failures:
            w("targets missed: " + "; ".join(failures))
        else:
            w("all targets hold: every ratio ours/original <= 1.0 (to 2 "
              "decimals), updates flat in n <= 1.5")
        print("\n".join(out))
        return not failures


class _no_gc:
    """Collect garbage, then keep the collector off inside the block."""

    def __enter__(self):
        gc.collect()
        gc.disable()

    def __exit__(self, *exc):
        gc.enable()


def _loop(function, argument, calls):
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        function(argument)
    return time.perf_counter_ns() - t0


def _version(dist):
    try:
        return _dist_version(dist)
    except Exception:
        return "?"


def log(message):
    print(message, file=sys.stderr, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Per-op cost of myproject's generational set against "
                    "zc.generationalset 0.4.0, in memory and in ZODB.")
    parser.add_argument(
        "--sizes", default=None,
        help="comma-separated set sizes (default 10000,100000,1000000; "
             "--quick: 10000,100000)")
    parser.add_argument(
        "--repeat", type=int, default=None,
        help="counted rounds per size and mode (default 41; --quick: 7)")
    parser.add_argument(
        "--batch", type=int, default=100,
        help="write ops per batch, and per commit in zodb mode (default 100)")
    parser.add_argument(
        "--modes", default="memory,zodb",
        help="comma-separated: memory, zodb (default both)")
    parser.add_argument(
        "--read-ms", type=float, default=None,
        help="approximate duration of one timed read loop in ms "
             "(default 2; --quick: 1)")
    parser.add_argument(
        "--chunks", type=int, default=3,
        help="timed loops per read op, implementation and round, the "
             "fastest kept (default 3)")
    parser.add_argument(
        "--stat", choices=("median", "min"), default="median",
        help="figure kept over rounds (default median)")
    parser.add_argument(
        "--cache-size", type=int, default=250000,
        help="ZODB connection cache size in objects (default 250000, enough "
             "to keep a 10^6-member set resident)")
    parser.add_argument(
        "--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the FileStorages go (default /dev/shm if there is one, "
             "else the system's temporary directory)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--quick", action="store_true",
        help="a quick look: sizes 10^4 and 10^5, 7 rounds")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = "10000,100000" if args.quick else "10000,100000,1000000"
    args.sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    if args.repeat is None:
        args.repeat = 7 if args.quick else 41
    if args.read_ms is None:
        args.read_ms = 1.0 if args.quick else 2.0
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in args.modes:
        if m not in ("memory", "zodb"):
            parser.error("unknown mode %r" % m)
    if (args.repeat < 1 or args.batch < 1 or args.chunks < 1
            or min(args.sizes) < 10):
        parser.error("--repeat, --batch and --chunks must be >= 1, "
                     "sizes >= 10")
    return args


def main(argv=None):
    args = parse_args(argv)
    bench = Bench(args)
    t0 = time.perf_counter()
    bench.run()
    log("total %.1fs" % (time.perf_counter() - t0))
    bench.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
