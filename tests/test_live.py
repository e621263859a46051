"""End to end against real pserve/waitress processes on loopback."""
import io
import threading

import pytest

from myproject.client import APIError, SyncClient, state_of
from myproject.scripts import admin as admin_script

from .servers import Server, write_ini


def add_user(ini, user_id, *flags):
    out = io.StringIO()
    assert admin_script.main([ini, "add-user", user_id, *flags], out=out) == 0
    return out.getvalue().strip()


@pytest.fixture
def live(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.push.senders": "log"})
    tokens = {name: add_user(ini, name) for name in ("alice", "bob")}
    server = Server(ini, port).start()
    yield server, tokens
    server.stop()


def test_sync_clients_mirror_through_a_real_server(live):
    server, tokens = live
    alice = SyncClient(server.url, "alice", tokens["alice"])
    bob = SyncClient(server.url, "bob", tokens["bob"])
    assert alice.sync() == 3
    alice.create("messages", {"id": "m1", "text": "hi"})
    alice.create_set("tasks", "work")
    alice.create("tasks/work", {"id": "w 1", "title": "a space in the id"})
    alice.patch("tasks/work/w 1", {"done": True})
    alice.share("messages/m1", ["bob"])
    alice.delete("tasks/work")
    assert alice.state["contents"] == {
        "messages": {"m1": {"id": "m1", "text": "hi"}}, "tasks": {}}
    generation = alice.generation
    assert alice.sync() == generation  # a 304 leaves the mirror as it is
    bob.sync()
    assert bob.state["contents"]["messages"] == {
        "m1": {"id": "m1", "text": "hi"}}
    with pytest.raises(APIError) as info:
        bob.replace("messages/m1", {"text": "edited by bob"})
    assert info.value.status == 403
    alice.replace("messages/m1", {"text": "edited"})
    bob.sync()
    assert bob.state["contents"]["messages"]["m1"] == {
        "id": "m1", "text": "edited"}


def test_a_paged_sync_reports_where_its_pages_lead(live):
    server, tokens = live
    alice = SyncClient(server.url, "alice", tokens["alice"])
    for n in range(5):
        alice.create("messages", {"id": f"m{n}"})
    reader = SyncClient(server.url, "alice", tokens["alice"], page_size=2)
    pages = []
    reader.sync(progress=lambda generation, more: pages.append(
        (generation, more, reader.tree_generation)))
    assert len(pages) >= 3 and reader.state == alice.state
    assert pages[-1] == (alice.generation, False, alice.generation)
    assert all(generation < tree == alice.generation and more
               for generation, more, tree in pages[:-1])


def test_eight_threads_writing_into_one_tree_lose_nothing(live):
    server, tokens = live
    generations, failures = [], []
    lock = threading.Lock()

    def writer(n):
        client = SyncClient(server.url, "alice", tokens["alice"])
        for i in range(50):
            try:
                client.create("messages", {"id": f"w{n}-{i}"})
            except APIError as e:  # pragma: no cover - reported below
                failures.append(e)
                continue
            with lock:
                generations.append(client.generation)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(generations) == 400
    assert len(set(generations)) == 400  # every write its own generation
    check = SyncClient(server.url, "alice", tokens["alice"])
    check.sync()
    assert check.generation == 3 + 400
    assert set(check.state["contents"]["messages"]) == {
        f"w{n}-{i}" for n in range(8) for i in range(50)}


def test_a_killed_server_keeps_every_answered_write(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.push.senders": "log"})
    token = add_user(ini, "alice")
    server = Server(ini, port).start()
    answered = []
    enough = threading.Event()

    def writer():
        client = SyncClient(server.url, "alice", token, timeout=5)
        for i in range(100000):
            try:
                client.create("messages", {"id": f"d{i}"})
            except (APIError, OSError):
                return  # the server died under us
            answered.append(f"d{i}")
            if len(answered) == 150:
                enough.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert enough.wait(60)
    server.kill()
    thread.join(30)
    restarted = Server(ini, port).start()
    try:
        check = SyncClient(restarted.url, "alice", token)
        check.sync()
        held = set(check.state["contents"]["messages"])
        assert set(answered) <= held
        assert len(held) - len(answered) <= 1  # at most one unanswered
    finally:
        restarted.stop()


def test_state_of_matches_what_the_api_mirror_holds(tmp_path):
    # The reference client's two forms agree: a library mirror of the same
    # tree equals the API mirror once documents are turned into their data.
    from myproject.client import EMPTY, apply_json_updates
    from myproject.generationalset import GSet
    from myproject.documents import Document
    from myproject.sync import to_json

    tree = GSet("alice")
    messages = GSet("messages")
    tree.add(messages)
    Document({"id": "m1", "v": 1}, "alice").place(messages)
    sub = GSet("sub", messages)
    Document({"id": "s1"}, "alice").place(sub)
    api = apply_json_updates(EMPTY, to_json(tree.generational_updates(0)))

    def data(members):
        return {k: data(v) if isinstance(v, dict) else v.data
                for k, v in members.items()}

    assert api["contents"] == data(state_of(tree)["contents"])
