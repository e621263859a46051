"""Push benchmark: the dispatcher against a bare aioapns loop, same fake APNs.

    python bench/bench_push.py [--count 2000] [--rounds 5] [--latency 400]

Everything runs on loopback.  The fake APNs (HTTP/2 over TLS,
tests/push/fakes.py) runs in a child process, so it does not compete with
the code measured for this process's GIL (as Apple's servers would not);
CLOCK_MONOTONIC is shared, so latencies compare its clock with ours.  Two
measurements:

1. Throughput, notifications per second, ``--rounds`` alternating rounds of
   ``--count`` notifications each (one device per user, coalescing off):
   - bare: ``asyncio.gather`` of ``APNs.send_notification`` on one aioapns
     client (the fastest use of the library: no timeout, no retry logic);
   - dispatcher: ``Dispatcher.submit`` from this thread, through the APNs
     sender (a timeout around each send, outcome handling, counters) until
     every answer is back; this thread then waits on an event (``Answered``)
     rather than polling, which would take the GIL and the dispatcher's
     lock from the thread being measured.
   The ratio dispatcher/bare compares the medians (target >= 0.9), of the
   rates and of this process's CPU time per notification (the fake's CPU
   is not counted); on a busy machine the CPU ratio is the steadier one.
2. Commit-to-push latency with coalescing off: ``submit()`` to the fake
   having read the request, one push at a time, 2 ms apart (target p99
   <= 50 ms).
"""
import argparse
import asyncio
import multiprocessing
import os
import resource
import ssl
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from aioapns import APNs, NotificationRequest, PushType  # noqa: E402
from aioapns.common import PRIORITY_NORMAL  # noqa: E402

from myproject.push import Device, Dispatcher  # noqa: E402
from myproject.push.apns import APNsSender, payload  # noqa: E402
from myproject.push.sender import collapse_id  # noqa: E402
from tests.push.fakes import FakeAPNs, write_apns_key  # noqa: E402

KEY_ID, TEAM_ID, TOPIC = "KEYID12345", "TEAMID1234", "org.example.bench"
POOL_SIZE = 10
DEADLINE = 120.0  # seconds: no single measurement may take longer


def token(n):
    return f"{n:064x}"


def serve_fake(conn):
    """Child process: run a FakeAPNs and answer commands from ``conn``."""
    with FakeAPNs() as fake:
        conn.send((fake.port, fake.ca.cert_pem.bytes()))
        while True:
            command, *args = conn.recv()
            if command == "stop":
                return
            if command == "reset":
                fake.reset()
                conn.send(None)
            elif command == "wait":             # count, timeout, since
                count, timeout, since = args
                try:
                    requests = fake.wait_for_requests(count, timeout)
                except AssertionError as exc:
                    conn.send(exc)
                else:
                    conn.send([(r.token, r.received)
                               for r in requests[since:]])


class RemoteFake:
    """The parent's handle on the fake APNs in its child process."""

    def __init__(self):
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(
            target=serve_fake, args=(child,), daemon=True)
        self.process.start()
        self.port, self.ca_pem = self.conn.recv()

    def reset(self):
        self.conn.send(("reset",))
        self.conn.recv()

    def wait_for_requests(self, count, since=0, timeout=DEADLINE):
        """Return [(token, received)] of the requests from number ``since``
        on, once ``count`` requests arrived."""
        self.conn.send(("wait", count, timeout, since))
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise SystemExit(f"fake APNs: {answer}")
        return answer

    def stop(self):
        self.conn.send(("stop",))
        self.process.join(10)


class Setup:
    def __init__(self, folder):
        self.fake = RemoteFake()
        self.key_file = os.path.join(folder, "AuthKey.p8")
        write_apns_key(self.key_file)
        with open(self.key_file) as f:
            self.key = f.read()
        self.ca_file = os.path.join(folder, "ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(self.fake.ca_pem)

    def sender(self):
        return APNsSender(
            key=self.key, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC,
            pool_size=POOL_SIZE, timeout=30.0,
            server=("127.0.0.1", self.fake.port), ca_file=self.ca_file)

    def bare_client(self):
        """An aioapns client aimed at the fake, the way its docs build one."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.set_alpn_protocols(["h2"])
        client = APNs(key=self.key, key_id=KEY_ID, team_id=TEAM_ID,
                      topic=TOPIC, max_connections=POOL_SIZE,
                      ssl_context=context)
        base = client.pool.protocol_class
        client.pool.protocol_class = type(
            base.__name__, (base,),
            {"APNS_SERVER": "127.0.0.1", "APNS_PORT": self.fake.port})
        return client


def bare_rate(setup, count):
    async def run():
        client = setup.bare_client()

        def request(n):
            return NotificationRequest(
                device_token=token(n), message=payload(1),
                priority=PRIORITY_NORMAL, collapse_key=collapse_id(f"u{n}"),
                push_type=PushType.BACKGROUND)

        await client.send_notification(request(0))      # connect, warm up
        began = time.perf_counter()
        results = await asyncio.wait_for(asyncio.gather(
            *(client.send_notification(request(n))
              for n in range(1, count + 1))), DEADLINE)
        elapsed = time.perf_counter() - began
        assert all(r.is_successful for r in results)
        client.pool.close()
        await asyncio.sleep(0)
        return count / elapsed

    setup.fake.reset()
    rate = asyncio.run(run())
    setup.fake.wait_for_requests(count + 1)
    return rate


def cpu_seconds():
    """Return the CPU time used so far by this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(run, setup, count):
    """Return (notifications/s, CPU microseconds per notification) of a run."""
    before = cpu_seconds()
    rate = run(setup, count)
    return rate, (cpu_seconds() - before) / count * 1e6


def wait_until(predicate, what):
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.0005)


class Answered:
    """A sender passing sends on, setting an event after a number of answers.

    The measuring thread waits on the event, so it neither holds the GIL
    nor takes the dispatcher's lock (as polling ``stats()`` would) while
    the dispatcher works, and the fake is asked for its count only after
    the clock stops, as for the bare loop.
    """

    def __init__(self, sender, count):
        self.sender = sender
        self.timeout = sender.timeout
        self.name = sender.name
        self.remaining = count
        self.done = threading.Event()

    async def send(self, user_id, generation, device):
        result = await self.sender.send(user_id, generation, device)
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()
        return result

    async def close(self):
        await self.sender.close()


def dispatcher_rate(setup, count):
    setup.fake.reset()
    sender = Answered(setup.sender(), count + 1)
    dispatcher = Dispatcher({"apns": sender}, coalesce_window=0,
                            queue_size=count + 10, send_timeout=30.0)
    dispatcher.start()
    try:
        dispatcher.submit("u0", 1, [Device("apns", token(0))])  # warm up
        wait_until(lambda: dispatcher.stats()["sent"] == 1, "warm-up")
        began = time.perf_counter()
        for n in range(1, count + 1):
            dispatcher.submit(f"u{n}", 1, [Device("apns", token(n))])
        if not sender.done.wait(DEADLINE):
            raise SystemExit("gave up waiting for the dispatcher")
        elapsed = time.perf_counter() - began
        setup.fake.wait_for_requests(count + 1)
        wait_until(lambda: dispatcher.stats()["sent"] == count + 1,
                   "the dispatcher")
    finally:
        dispatcher.stop()
    stats = dispatcher.stats()
    assert stats["failed"] == stats["dropped"] == stats["retried"] == 0, stats
    return count / elapsed


def latencies(setup, count):
    setup.fake.reset()
    dispatcher = Dispatcher({"apns": setup.sender()}, coalesce_window=0)
    dispatcher.start()
    samples = []
    try:
        dispatcher.submit("warm", 1, [Device("apns", token(0))])
        setup.fake.wait_for_requests(1)
        for n in range(1, count + 1):
            time.sleep(0.002)                   # commits, not a burst
            submitted = time.monotonic()
            dispatcher.submit(f"u{n}", n, [Device("apns", token(n))])
            [(got_token, received)] = setup.fake.wait_for_requests(n + 1, n)
            assert got_token == token(n)
            samples.append((received - submitted) * 1000)
    finally:
        dispatcher.stop()
    return samples


def percentile(samples, p):
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000,
                        help="notifications per throughput round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=int, default=400,
                        help="pushes in the latency run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        setup = Setup(folder)
        try:
            bare, dispatched = [], []
            for round_ in range(args.rounds):
                runs = [(bare, bare_rate), (dispatched, dispatcher_rate)]
                if round_ % 2:
                    runs.reverse()              # neither always goes first
                for results, run in runs:
                    results.append(measured(run, setup, args.count))
            samples = latencies(setup, args.latency)
        finally:
            setup.fake.stop()

    def median(results, index):
        return statistics.median(r[index] for r in results)

    ratio = median(dispatched, 0) / median(bare, 0)
    cpu_ratio = median(bare, 1) / median(dispatched, 1)
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(f"push benchmark: fake APNs in a child process on loopback "
          f"(HTTP/2 + TLS), {args.rounds} rounds x {args.count} "
          f"notifications, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    print()
    print(f"{'throughput':30} {'median/s':>9} {'min/s':>7} {'max/s':>7} "
          f"{'CPU us/notification':>20}")
    for name, results in (("bare aioapns send loop", bare),
                          ("through the Dispatcher", dispatched)):
        rates = [r[0] for r in results]
        print(f"{name:30} {median(results, 0):9.0f} {min(rates):7.0f} "
              f"{max(rates):7.0f} {median(results, 1):20.0f}")
    print(f"{'ratio dispatcher / bare':30} {ratio:9.2f} {'':15} "
          f"{cpu_ratio:20.2f}  (by CPU)")
    print(f"{'':30} target >= 0.90: "
          f"{'met' if ratio >= 0.9 else 'NOT met'} (wall clock), "
          f"{'met' if cpu_ratio >= 0.9 else 'NOT met'} (CPU)")
    print()
    print(f"commit-to-push latency, coalescing off, {len(samples)} pushes:")
    print(f"{'  p50 / p99 / max (ms)':34} {p50:9.2f} {p99:9.2f} "
          f"{max(samples):9.2f}   "
          f"(target p99 <= 50 ms: {'met' if p99 <= 50 else 'NOT met'})")


if __name__ == "__main__":
    main()
