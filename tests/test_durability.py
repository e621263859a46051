"""Kill -9 durability: a write the server answered ``201`` survives SIGKILL.

A real pserve on a FileStorage takes writes from 8 threads through the HTTP
API and is killed with SIGKILL at random moments, several times, each time
started again on the same Data.fs.  Afterwards every acknowledged write is
there exactly once, no document is there twice, a write answered with an
error saved nothing, and every saved write has a generation of its own.

SIGKILL ends the process, not the machine: what the process handed to the
operating system stays, so this checks that the server answers only once
its commit has reached the storage file, not what a power cut would lose.
"""
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request

from .servers import Server, add_user, write_ini

WRITERS = 8
ROUNDS = 4
#: Writes acknowledged in each round before its kill, at least.
ACKS_PER_ROUND = 40
#: Writes each writer sends at most (a bound; the rounds need far fewer).
MAX_WRITES = 2000
#: Documents whose generation is checked with two polls each.
SAMPLE = 25


def get(url, token, generation):
    """One poll of the tree at url since generation: the JSON answer."""
    request = urllib.request.Request(
        f"{url}/users/alice?generation={generation}",
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status == 200
        return json.loads(r.read())


def documents(updates):
    """Every document in an answer's updates, in order, repeats kept."""
    found = []
    for entry in updates.get("adds", []) + updates.get("contents", []):
        if "id" in entry:
            found.append(entry)
        else:
            found.extend(documents(entry))
    return found


def poll(url, token, generation):
    """(generation, documents) since generation, following every page."""
    found = []
    for _ in range(10000):  # pages, a bound
        answer = get(url, token, generation)
        found.extend(documents(answer))
        generation = answer["generation"]
        if not answer.get("more"):
            return generation, found
    raise AssertionError("the pages never ended")


class Writers:
    """Threads creating documents in alice's messages, each with a tag.

    The server assigns the ids.  ``acked`` maps the tag of each write
    answered 201 to (id, generation); ``refused`` the tag of each write
    answered with an error to its status; ``unknown`` holds the tags of
    writes that got no answer (the server died under them).
    """

    def __init__(self, server, token, count):
        self.server = server  # replaced by the test on each restart
        self.token = token
        self.acked = {}
        self.refused = {}
        self.unknown = set()
        self.problems = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(n,))
                        for n in range(count)]
        for thread in self.threads:
            thread.start()

    def write(self, n):
        generation = 0
        i = 0
        for _ in range(MAX_WRITES * 10):  # attempts, a bound
            if self.stopped.is_set() or i >= MAX_WRITES:
                return
            tag = f"w{n}-{i}"
            request = urllib.request.Request(
                f"{self.server.url}/users/alice/messages"
                f"?generation={generation}",
                data=json.dumps({"tag": tag}).encode(), method="POST",
                headers={"Authorization": f"Bearer {self.token}",
                         "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    status, answer = r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                with self.lock:
                    self.refused[tag] = e.code
                i += 1
                continue
            except urllib.error.URLError as e:
                if not isinstance(e.reason, ConnectionRefusedError):
                    with self.lock:
                        self.unknown.add(tag)
                    i += 1
                # Refused: nothing was sent; the same tag again, once the
                # server is back.
                self.stopped.wait(0.02)
                continue
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.unknown.add(tag)  # it died while answering
                i += 1
                self.stopped.wait(0.02)
                continue
            i += 1
            document = answer["document"]
            if status != 201 or document.get("tag") != tag:
                with self.lock:
                    self.problems.append((tag, status, answer))
                continue
            generation = answer["updates"]["generation"]
            with self.lock:
                self.acked[tag] = (document["id"], generation)

    def wait_for(self, count, timeout):
        """Wait until ``count`` writes are acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.acked) >= count:
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        self.stopped.set()
        for thread in self.threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in self.threads)


def test_acknowledged_writes_survive_repeated_kill_9(tmp_path):
    seed = random.randrange(2 ** 32)
    print(f"random seed {seed}")
    rng = random.Random(seed)
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.push.senders": "log"})
    token = add_user(ini, "alice")
    server = Server(ini, port).start()
    start = time.monotonic()
    writers = None
    try:
        first, before = poll(server.url, token, 0)
        assert before == []
        writers = Writers(server, token, WRITERS)
        for round in range(ROUNDS):
            assert writers.wait_for(len(writers.acked) + ACKS_PER_ROUND, 20), (
                round, writers.problems, server.log())
            # A random moment while all eight write.
            time.sleep(rng.uniform(0, 0.25))
            server.kill()
            server = Server(ini, port).start()
            writers.server = server
        # Writes go on after the last restart too.
        assert writers.wait_for(len(writers.acked) + ACKS_PER_ROUND, 20)
        writers.stop()
        print(f"{ROUNDS} kills, {len(writers.acked)} writes acknowledged, "
              f"{len(writers.unknown)} unanswered, {len(writers.refused)} "
              f"refused, in {time.monotonic() - start:.1f}s")

        assert writers.problems == []
        # The kills came while writes were under way.
        assert writers.unknown
        last, found = poll(server.url, token, 0)
        ids = [document["id"] for document in found]
        tags = [document["tag"] for document in found]
        assert len(set(ids)) == len(ids)  # no document twice
        assert len(set(tags)) == len(tags)  # no write saved twice
        held = {document["tag"]: document["id"] for document in found}
        for tag, (document_id, _) in writers.acked.items():
            assert held.get(tag) == document_id, tag  # every answered write
        assert not set(held) & set(writers.refused)  # errors saved nothing
        assert set(held) <= set(writers.acked) | writers.unknown
        # One generation per saved write, none lost or given twice.
        generations = [g for _, g in writers.acked.values()]
        assert len(set(generations)) == len(generations)
        assert last == first + len(found)
        assert max(generations) <= last
        # An acknowledged write's generation is its document's: a poll
        # since the one before shows it, a poll since that one does not.
        for tag in rng.sample(sorted(writers.acked), SAMPLE):
            document_id, generation = writers.acked[tag]
            assert document_id in {d["id"] for d in poll(
                server.url, token, generation - 1)[1]}, tag
            assert document_id not in {d["id"] for d in poll(
                server.url, token, generation)[1]}, tag
    finally:
        if writers is not None:
            writers.stop()
        server.stop()
