"""Pages of generational updates (``generational_updates(g, limit=N)``),
beyond the property test in test_mirror.py."""
import pytest
import transaction
import ZODB
import ZODB.FileStorage

from myproject.client import EMPTY, apply_updates, state_of
from myproject.generationalset import GSet, SGSet

from .test_generationalset import Thing


def pages(s, generation, limit):
    """Return every page from generation until one without more."""
    found = []
    while True:
        page = s.generational_updates(generation, limit)
        found.append(page)
        if not page.get("more"):
            return found
        generation = page["generation"]


def sync(s, state, limit):
    for page in pages(s, state["generation"], limit):
        state = apply_updates(state, page)
    return state


def test_a_page_holds_the_oldest_changes_and_names_its_cursor():
    s = GSet()
    for i in range(5):
        s.add(Thing(i))                     # 2..6
    assert s.generational_updates(0, 2) == {
        "generation": 3, "adds": [Thing(0), Thing(1)], "more": True}
    assert s.generational_updates(3, 2) == {
        "generation": 5, "adds": [Thing(2), Thing(3)], "more": True}
    assert s.generational_updates(5, 2) == {
        "generation": 6, "adds": [Thing(4)]}
    assert s.generational_updates(6, 2) == {"generation": 6}


def test_without_limit_the_answer_is_the_seeds():
    s = GSet()
    for i in range(5):
        s.add(Thing(i))
    assert s.generational_updates(0) == {
        "generation": 6, "adds": [Thing(i) for i in range(5)]}
    assert s.generational_updates(0, 100) == s.generational_updates(0)


def test_a_cursor_skips_generations_with_nothing_left_in_them():
    s = GSet()
    for i in range(4):
        s.add(Thing(i))                     # 2..5
    s.changed(Thing(0))                     # 6: generation 2 is empty now
    s.changed(Thing(1))                     # 7
    assert s.generational_updates(0, 1) == {
        "generation": 4, "adds": [Thing(2)], "more": True}


def test_removals_page_in_generation_order_with_the_adds():
    s = GSet()
    for i in range(4):
        s.add(Thing(i))                     # 2..5
    s.remove(Thing(0))                      # 6
    s.add(Thing(9))                         # 7
    s.remove(Thing(1))                      # 8
    assert s.generational_updates(5, 2) == {
        "generation": 7, "removals": [0], "adds": [Thing(9)], "more": True}
    assert s.generational_updates(7, 2) == {"generation": 8, "removals": [1]}


def test_a_page_from_generation_zero_carries_no_removals():
    s = GSet()
    s.add(Thing(1))
    s.remove(Thing(1))
    s.add(Thing(2))
    assert s.generational_updates(0, 10) == {
        "generation": 4, "adds": [Thing(2)]}


def test_set_entries_count_toward_the_limit():
    root = GSet()
    a = GSet("a", root)
    for i in range(4):
        a.add(Thing(i))                     # 2..5
    first = root.generational_updates(0, 3)
    assert first == {"generation": 3, "adds": [
        {"id": "a", "adds": [Thing(0), Thing(1)]}], "more": True}


def test_a_subset_polled_alone_pages_with_the_tree_generation():
    root = GSet()
    a, b = GSet("a", root), GSet("b", root)
    for i in range(3):
        a.add(Thing(i))                     # 2, 3, 4
        b.add(Thing(10 + i))                # 3, 5, 7 ... interleaved
    # a's changes are at 2, 4 and 6: the page stops before 6.
    assert a.generational_updates(0, 2) == {
        "generation": 5, "adds": [Thing(0), Thing(1)], "more": True}
    assert a.generational_updates(5, 2) == {
        "generation": 7, "adds": [Thing(2)]}


def test_a_stale_big_set_is_sent_whole_in_pages():
    # The client at 3 holds an old inbox; it was replaced by a big one.
    root = GSet()
    GSet("inbox", root).add(Thing("old"))   # 2
    root.add(Thing("x"))                    # 3
    client = sync(root, EMPTY, 10)
    fresh = GSet("inbox")
    for i in range(10):
        fresh.add(Thing(i))
    root.add(fresh)
    found = pages(root, client["generation"], 4)
    assert found[0]["adds"][0]["contents"] == [Thing(0), Thing(1), Thing(2)]
    assert all("contents" not in p["adds"][0] for p in found[1:])
    state = client
    for page in found:
        state = apply_updates(state, page)
    assert state == state_of(root)


def test_a_client_ahead_of_the_server_replaces_everything_in_pages():
    root = GSet()
    for i in range(5):
        root.add(Thing(i))
    stale = {"generation": 99, "contents": {"z": Thing("z")}}
    first = root.generational_updates(99, 2)
    assert first == {"generation": 3, "contents": [Thing(0), Thing(1)],
                     "more": True}
    assert sync(root, stale, 2) == state_of(root)


def test_a_set_that_forgot_removals_still_pages_from_an_old_generation():
    s = GSet(maximum_removals=2)
    for i in range(6):
        s.add(Thing(i))                     # 2..7
    client = sync(s, EMPTY, 100)            # at 7, holds 0..5
    for i in range(5):
        s.remove(Thing(i))                  # 8..12
    s.changed(Thing(5))                     # no member older than them now
    for i in range(10, 20):
        s.add(Thing(i))
    s.remove(Thing(10))                     # forgets the oldest ones
    assert s.forgotten > 7
    state = client
    found = pages(s, 7, 3)
    assert "contents" in found[0] and len(found) > 1
    for page in found:
        state = apply_updates(state, page)
    assert state == state_of(s)


def test_old_members_keep_removals_that_paged_clients_need():
    # Without the kept removals a client paging from 0 through the old
    # members would be sent the set whole again and again.
    s = GSet(maximum_removals=2)
    for i in range(10):
        s.add(Thing(i))                     # old members: 2..11
    for i in range(100, 110):
        s.add(Thing(i))
        s.remove(Thing(i))
    assert s._evicted > 11 and s.forgotten < 2 and s._kept == 8
    # Unpaged answers are as before: an old client gets contents.
    assert "contents" in s.generational_updates(5)
    found = pages(s, 0, 3)  # 10 members and 10 removals, none whole
    assert len(found) == 7 and all("contents" not in p for p in found)
    assert sync(s, EMPTY, 3) == state_of(s)
    # Once the old members changed, the kept removals go.
    for i in range(10):
        s.changed(Thing(i))
    s.add(Thing(200))
    s.remove(Thing(200))
    assert s._kept == 0 and s.forgotten > 11


def test_a_page_never_loses_what_changed_while_the_client_paged():
    s = GSet()
    for i in range(6):
        s.add(Thing(i))
    state = apply_updates(EMPTY, s.generational_updates(0, 2))
    s.changed(Thing(0))                     # sent already: sent again
    s.remove(Thing(3))                      # not sent yet
    s.add(Thing(7))
    assert sync(s, state, 2) == state_of(s)


def test_the_limit_must_be_a_positive_integer():
    s = GSet()
    for bad in (0, -1, 1.5, "3"):
        with pytest.raises(ValueError):
            s.generational_updates(1, bad)


def test_one_page_of_a_big_set_loads_few_objects(tmp_path):
    storage = ZODB.FileStorage.FileStorage(str(tmp_path / "Data.fs"))
    db = ZODB.DB(storage)
    conn = db.open()
    s = conn.root()["s"] = GSet()
    for i in range(30000):
        s.add(Thing(i))
    transaction.commit()
    conn.close()
    db.pool.clear()  # a fresh connection with an empty cache

    conn = db.open()
    s = conn.root()["s"]
    cursor = 15000
    page = s.generational_updates(cursor, 100)
    assert len(page["adds"]) == 100 and page["more"]
    # The set, a path down each BTree and the buckets of 100 members (at
    # most 30 a bucket): far from the 2,000 buckets of the whole set.
    loaded = conn._cache.cache_non_ghost_count
    assert loaded < 30, loaded
    conn.close()
    db.close()


def test_a_subset_joins_its_parent_under_the_parents_id():
    parent = SGSet()
    child = GSet(1, parent)
    child.add(Thing("x"))
    assert "1" in parent and parent["1"] is child
    assert parent.generational_updates(0) == {
        "generation": 2, "adds": [{"id": "1", "adds": [Thing("x")]}]}


def test_a_removed_subset_can_join_another_parent():
    p1, p2 = GSet("p1"), GSet("p2")
    c = GSet("c", p1)
    c.add(Thing(1))
    p1.remove(c)
    assert c.parent is None
    p2.add(c)
    assert c.parent is p2 and p2["c"] is c
    assert state_of(p2)["contents"] == {"c": {1: Thing(1)}}
    c.add(Thing(2))                         # counts in p2's tree now
    assert p2.generation == c.generation and p1.generation < p2.generation
