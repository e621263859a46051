"""Write-to-held-answer delay of live polls (``?wait=``): p50/p99 over 200
writes, through a real Pushpin (GRIP) and held in the process.

Each round holds one poll at the tree's generation, waits until it is held
(Pushpin's log shows the subscription; in process, a short settle), writes
one document through another connection and times the held poll's answer.

    PYTHONPATH=. python bench/bench_live.py [writes]
"""
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tests.pushpin import Pushpin  # noqa: E402
from tests.test_live_polls import (  # noqa: E402
    Held, call, generation_of, held_at, serve, wait_for)


def rounds(server, token, poll_url, writes, is_held):
    delays = []
    for i in range(writes):
        g = generation_of(server, token)
        held = Held(f"{poll_url}/users/alice?generation={g}&wait=20", token)
        held.start()
        is_held(g, held)
        written = time.monotonic()
        call(server.url + "/users/alice/messages", token, "POST",
             {"id": f"m{i}"})
        held.join(20)
        assert held.answer[2]["generation"] > g, held.answer
        delays.append(held.answered_at - written)
    return delays


def report(name, delays):
    cuts = statistics.quantiles(delays, n=100)
    print(f"{name:<12} writes={len(delays)}  p50={cuts[49] * 1000:.1f} ms  "
          f"p99={cuts[98] * 1000:.1f} ms")


def main(writes=200):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder)
        (path / "pushpin").mkdir()
        pushpin = Pushpin(path / "pushpin", app_port=None)
        server, token = serve(path, **{
            "myproject.live.grip": "true",
            "myproject.live.publish_url": pushpin.publish_url})
        pushpin.app_port = server.port
        try:
            pushpin.start()
            report("pushpin", rounds(
                server, token, pushpin.url, writes,
                lambda g, held: wait_for(
                    lambda: held_at(pushpin, "alice", g) >= 1)))
        finally:
            pushpin.stop()
            server.stop()
    with tempfile.TemporaryDirectory() as folder:
        server, token = serve(pathlib.Path(folder))
        try:
            report("in-process", rounds(
                server, token, server.url, writes,
                lambda g, held: held.join(0.05)))
        finally:
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
