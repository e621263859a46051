"""Unit tests of the generational set beyond the README's examples."""
import threading

import pytest
import transaction
import ZODB
import ZODB.FileStorage
from ZODB.POSException import ConflictError

from myproject import changes, generationalset
from myproject.client import EMPTY, apply_updates, state_of
from myproject.generationalset import GSet, SGSet, VGSet


class Thing:
    def __init__(self, id, version=0):
        self.id = id
        self.version = version

    def __eq__(self, other):
        return isinstance(other, Thing) and (
            (self.id, self.version) == (other.id, other.version))

    __hash__ = object.__hash__

    def __repr__(self):
        return "Thing(%r)" % (self.id,)


@pytest.fixture
def db(tmp_path):
    database = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / "Data.fs")))
    yield database
    database.close()


def test_aliases_name_the_classes():
    assert generationalset.GSet is generationalset.GenerationalSet
    assert generationalset.SGSet is generationalset.StringIdGenerationalSet
    assert generationalset.VGSet is generationalset.ValueGenerationalSet


def test_generation_starts_at_one_and_grows_by_one_per_change():
    s = GSet()
    assert s.generation == 1
    s.add(Thing(1))
    s.changed(Thing(1))
    s.remove(Thing(1))
    assert s.generation == 4


def test_changed_of_an_absent_object_raises_and_changes_nothing():
    s = GSet()
    s.add(Thing(1))
    with pytest.raises(KeyError) as info:
        s.changed(Thing(2))
    assert info.value.args == (2,)
    assert s.generation == 2
    assert s.generational_updates(2) == {"generation": 2}


def test_replace_unchanged_holds_the_new_object_at_the_same_generation():
    root = GSet("r")
    sub = GSet("s")
    root.add(sub)
    sub.add(Thing(1))
    sub.add(Thing(2))
    g = root.generation
    replacement = Thing(1)
    sub.replace_unchanged(replacement)
    assert root.generation == g and sub.generation == g
    assert sub[1] is replacement
    assert root.generational_updates(g) == {"generation": g}
    whole = root.generational_updates(0)["adds"][0]["adds"]
    assert any(ob is replacement for ob in whole)
    with pytest.raises(KeyError):
        sub.replace_unchanged(Thing(3))
    assert root.generation == g and len(sub) == 2


def test_remove_of_an_absent_object_raises_key_error():
    s = GSet()
    with pytest.raises(KeyError):
        s.remove(Thing(1))
    s.add(Thing(1))
    s.remove(Thing(1))
    with pytest.raises(KeyError):
        s.remove(Thing(1))
    assert s.generation == 3


def test_getitem_of_absent_or_removed_id_raises_key_error():
    s = GSet()
    s.add(Thing(1))
    s.remove(Thing(1))
    with pytest.raises(KeyError):
        s[1]
    with pytest.raises(KeyError):
        s[2]


def test_explicit_ids_override_get_id():
    s = GSet()
    s.add("payload", id="p")
    assert s["p"] == "payload"
    s.changed("new payload", id="p")
    assert list(s) == ["new payload"]
    s.remove(None, id="p")
    assert len(s) == 0


def test_id_attribute_is_configurable():
    class Named:
        def __init__(self, name):
            self.name = name

    s = GSet(id_attribute="name")
    s.add(Named("x"))
    assert "x" in s and len(s) == 1


def test_string_id_set_stringifies_ids():
    s = SGSet()
    s.add(Thing(2 ** 70))
    assert str(2 ** 70) in s
    assert s.generational_updates(0)["adds"] == [Thing(2 ** 70)]


def test_value_set_uses_items_as_ids():
    s = VGSet()
    s.add("x")
    s.add("y")
    s.remove("x")
    assert list(s) == ["y"] and "y" in s and "x" not in s
    assert s.generational_updates(0) == {
        "generation": 4, "removals": ["x"], "adds": ["y"]}


def test_containment_of_foreign_id_types_is_false():
    s = GSet()
    s.add(Thing("a"))
    assert 3 not in s


def test_iteration_and_values_are_oldest_change_first():
    s = GSet()
    for i in range(4):
        s.add(Thing(i))
    s.changed(Thing(1))
    assert [t.id for t in s] == [0, 2, 3, 1]
    assert [t.id for t in s.values(4)] == [2, 3, 1]


def test_len_is_kept_without_walking_the_tree():
    s = GSet()
    for i in range(10):
        s.add(Thing(i))
    s.add(Thing(3))
    s.remove(Thing(4))
    s._contents = s._generations = None  # len must not look at a BTree
    assert len(s) == 9


def test_up_to_date_client_gets_only_the_generation():
    s = GSet()
    s.add(Thing(1))
    assert s.generational_updates(2) == {"generation": 2}


def test_removed_then_readded_item_is_an_add_not_a_removal():
    s = GSet()
    s.add(Thing(1))
    s.remove(Thing(1))
    s.add(Thing(1, 2))
    assert s.generational_updates(2) == {
        "generation": 4, "adds": [Thing(1, 2)]}


def test_evicted_removal_stays_evicted_when_its_id_is_readded():
    s = GSet(maximum_removals=1)
    s.add(Thing(1))
    s.add(Thing(2))
    s.remove(Thing(1))          # 4
    s.remove(Thing(2))          # 5, evicts the removal of 1
    s.add(Thing(1))             # 6: 1 is new again, 2's removal remains
    s.add(Thing(2))             # 7: no removal remembered at all now
    updates = s.generational_updates(3)
    assert updates == {"generation": 7, "contents": [Thing(1), Thing(2)]}


def test_client_ahead_of_the_server_gets_everything_as_contents():
    s = GSet()
    assert s.generational_updates(5) == {"generation": 1, "contents": []}
    s.add(Thing(1))
    assert s.generational_updates(9) == {
        "generation": 2, "contents": [Thing(1)]}


def test_removed_then_readded_subset_is_sent_whole():
    root = GSet()
    sub = GSet("sub", root)
    sub.add(Thing(1))           # 2
    sub.add(Thing(2))           # 3
    root.remove(sub)            # 4
    root.add(sub)               # members renumbered 5, 6; joins at 7
    assert sub.parent is root and sub._joined == 5
    assert root.generational_updates(3) == {
        "generation": 7,
        "adds": [{"id": "sub", "contents": [Thing(1), Thing(2)]}]}


def test_subset_replaced_by_another_with_the_same_id_is_sent_whole():
    root = GSet()
    old = GSet("sub", root)
    old.add(Thing(1))           # 2
    new = GSet("sub")
    root.add(new)               # 3
    assert root.generational_updates(2) == {
        "generation": 3, "adds": [{"id": "sub", "contents": []}]}
    assert root.generational_updates(0) == {
        "generation": 3, "adds": [{"id": "sub"}]}


def test_set_built_elsewhere_with_a_later_generation_moves_the_tree_on():
    root = GSet()
    root.add(Thing("x"))        # 2
    built = GSet("built")
    for i in range(5):
        built.add(Thing(i))     # built reaches 6
    root.add(built)             # members renumbered 3..7, joins at 8
    assert root.generation == 8 and built.generation == 8
    assert [g for g, _ in built._contents.items()] == [3, 4, 5, 6, 7]
    assert root.generational_updates(2) == {
        "generation": 8,
        "adds": [{"id": "built", "contents": [Thing(i) for i in range(5)]}]}
    built.add(Thing(9))
    assert root.generational_updates(8) == {
        "generation": 9, "adds": [{"id": "built", "adds": [Thing(9)]}]}


def test_a_set_of_another_parent_is_refused():
    a, b = GSet(), GSet()
    sub = GSet("sub", a)
    with pytest.raises(ValueError):
        b.add(sub)


def test_four_levels_share_the_root_generation():
    root = GSet()
    level1 = GSet("1", root)
    level2 = GSet("2", level1)
    level3 = GSet("3", level2)
    level3.add(Thing("deep"))
    assert {s.generation for s in (root, level1, level2, level3)} == {2}
    assert root.generational_updates(0) == {"generation": 2, "adds": [
        {"id": "1", "adds": [{"id": "2", "adds": [
            {"id": "3", "adds": [Thing("deep")]}]}]}]}
    state = apply_updates(EMPTY, root.generational_updates(0))
    level3.remove(Thing("deep"))
    assert root.generational_updates(2) == {"generation": 3, "adds": [
        {"id": "1", "adds": [{"id": "2", "adds": [
            {"id": "3", "removals": ["deep"]}]}]}]}
    state = apply_updates(state, root.generational_updates(2))
    assert state == state_of(root)


def test_subset_polled_alone_reports_the_tree_generation():
    root = GSet()
    a = GSet("a", root)
    b = GSet("b", root)
    a.add(Thing(1))             # 2
    b.add(Thing(2))             # 3
    assert a.generational_updates(2) == {"generation": 3}
    assert a.generational_updates(0) == {"generation": 3, "adds": [Thing(1)]}


def test_the_subset_flag_gives_the_entry_a_parent_would_nest():
    # The seed's signature: generational_updates(generation, subset=False).
    root = GSet()
    sub = GSet("sub", root)
    sub.add(Thing(1))                       # 2
    root.add(Thing("x"))                    # 3
    assert sub.generational_updates(2, True) == {"id": "sub"}
    assert sub.generational_updates(1, True) == {
        "id": "sub", "adds": [Thing(1)]}
    assert root.generational_updates(3, True) == {"id": None}
    assert root.generational_updates(2, True) == {
        "id": None, "adds": [Thing("x")]}


def test_generation_is_read_only():
    root = GSet()
    sub = GSet("sub", root)
    for s in (root, sub):
        with pytest.raises(AttributeError):
            s.generation = 10
    assert root.generation == sub.generation == 1


def test_a_root_that_joins_a_tree_becomes_a_subset_in_the_database(db):
    conn = db.open()
    conn.root()["tree"] = tree = GSet()
    conn.root()["built"] = built = GSet("built")
    tree.add(Thing("x"))                    # tree at 2
    built.add(Thing(1))
    built.add(Thing(2))                     # built at 3
    transaction.commit()
    tree.add(built)                         # renumbered 3, 4; joins at 5
    transaction.commit()
    conn.close()

    check = db.open()
    tree, built = check.root()["tree"], check.root()["built"]
    assert tree["built"] is built
    assert tree.generation == built.generation == 5
    built.add(Thing(3))                     # 6
    assert tree.generation == built.generation == 6
    assert tree.generational_updates(5) == {
        "generation": 6, "adds": [{"id": "built", "adds": [Thing(3)]}]}
    # Polled on its own it answers with the tree's generation.
    tree.add(Thing("y"))                    # 7
    assert built.generational_updates(6) == {"generation": 7}
    transaction.abort()
    check.close()


def test_notify_is_called_with_the_root_on_every_change(monkeypatch):
    seen = []
    monkeypatch.setattr(generationalset, "notify", seen.append)
    root = GSet()
    child = GSet("child", root)
    child.add(Thing(1))
    root.add(Thing("2"))
    assert seen == [root, root]


def test_a_change_rewrites_few_records_however_large_the_set(db):
    conn = db.open()
    s = conn.root()["s"] = GSet()
    for i in range(20000):
        s.add(Thing(i))
    transaction.commit()
    last = db.storage.lastTransaction()
    s.add(Thing(20000))
    s.changed(Thing(10))
    transaction.commit()
    records = [r for t in db.storage.iterator(start=last) if t.tid != last
               for r in t]
    # The set, a bucket and maybe an interior node of each BTree, the items.
    assert len(records) <= 8, len(records)
    conn.close()


def test_a_removal_rewrites_few_records_even_when_it_evicts_one(db):
    conn = db.open()
    s = conn.root()["s"] = GSet(maximum_removals=2)
    for i in range(20000):
        s.add(Thing(i))
    s.remove(Thing(100))
    s.remove(Thing(5000))
    transaction.commit()
    last = db.storage.lastTransaction()
    s.remove(Thing(15007))      # forgets the removal of 100
    transaction.commit()
    records = [r for t in db.storage.iterator(start=last) if t.tid != last
               for r in t]
    # The set, the buckets of 15007 in _generations and _contents, and the
    # two small trees of removals: nothing near 100.
    assert len(records) <= 5, len(records)
    assert s.generational_updates(1)["contents"][0] == Thing(0)
    conn.close()


def test_concurrent_writers_conflict_and_retry_keeps_both_changes(db):
    setup = db.open()
    setup.root()["tree"] = tree = GSet()
    GSet("inbox", tree).add(Thing("seed"))
    transaction.commit()
    setup.close()

    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1, c2 = db.open(transaction_manager=tm1), db.open(transaction_manager=tm2)
    c1.root()["tree"]["inbox"].add(Thing("one"))
    c2.root()["tree"]["inbox"].add(Thing("two"))
    tm1.commit()
    with pytest.raises(ConflictError):
        tm2.commit()
    tm2.abort()
    c2.root()["tree"]["inbox"].add(Thing("two"))  # the retry
    tm2.commit()

    check = db.open()
    tree = check.root()["tree"]
    inbox = tree["inbox"]
    assert {t.id for t in inbox} == {"seed", "one", "two"}
    assert tree.generation == 4
    generations = sorted(inbox._contents.keys())
    assert generations == [2, 3, 4]  # unique and strictly increasing
    c1.close()
    c2.close()
    check.close()


def test_change_tracker_gives_each_thread_its_own_roots(db):
    tracker = changes.ChangeTracker()
    committed = []
    tracker.subscribe(lambda roots: committed.append(
        sorted(root.id for root in roots)))
    setup = db.open()
    for name in ("alice", "bob"):
        setup.root()[name] = GSet(name)
    transaction.commit()
    setup.close()

    barrier = threading.Barrier(2)
    seen = {}

    def work(name):
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        root = conn.root()[name]
        root.add(Thing(name))
        tracker.record(root)
        barrier.wait()          # both transactions are open at once here
        seen[name] = [r.id for r in tracker.changed_roots(tm.get())]
        barrier.wait()
        tm.commit()
        conn.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"alice": ["alice"], "bob": ["bob"]}
    assert sorted(committed) == [["alice"], ["bob"]]


def test_change_tracker_tells_nobody_about_aborted_transactions(db):
    tracker = changes.ChangeTracker()
    committed = []
    tracker.subscribe(committed.append)
    conn = db.open()
    root = conn.root()["r"] = GSet("r")
    transaction.commit()
    root.add(Thing(1))
    tracker.record(root)
    transaction.abort()
    assert committed == []
    root.add(Thing(1))
    tracker.record(root)
    tracker.record(root)
    transaction.commit()
    assert committed == [[root]]
    conn.close()


def test_installed_tracker_records_every_root_change(db, monkeypatch):
    monkeypatch.setattr(generationalset, "notify", generationalset.notify)
    changes.install()
    conn = db.open()
    tree = conn.root()["tree"] = GSet("tree")
    transaction.commit()
    GSet("sub", tree).add(Thing(1))
    assert changes.tracker.changed_roots() == [tree]
    transaction.abort()
    conn.close()


class TaggedSet(GSet):
    """A subclass with an attribute of its own."""

    def __init__(self, *args, tag=None, **kw):
        super().__init__(*args, **kw)
        self.tag = tag


def _stored(db, build):
    """Store what build() returns under the root, then return it as a
    fresh connection loads it (and the connection)."""
    conn = db.open()
    conn.root()["s"] = build()
    transaction.commit()
    conn.close()
    fresh = db.open()
    return fresh.root()["s"], fresh


def _records_of_last_transaction(db):
    last = db.storage.lastTransaction()
    return [r for t in db.storage.iterator(start=last) for r in t]


def test_a_set_is_stored_without_attribute_names_and_loads_whole(db):
    def build():
        root = GSet("root", maximum_removals=3)
        child = GSet("child", root, id_attribute="key")
        child.add(Thing(1), "one")
        child.add(Thing(2), "two")
        child.remove(Thing(1), "one")
        root.add(TaggedSet("tagged", tag={"colour": "red"}), "t")
        return root
    expected = build()
    root, conn = _stored(db, build)
    for record in _records_of_last_transaction(db):
        if b"GenerationalSet" in record.data[:80]:
            assert b"maximum_removals" not in record.data
            assert b"_generations" not in record.data
    child, tagged = root["child"], root["t"]
    assert root.__getstate__()[0] == "root"
    assert isinstance(root.__getstate__(), tuple)
    assert (root.id, root.maximum_removals, child.id_attribute) == (
        "root", 3, "key")
    assert root.generation == expected.generation
    assert child.parent is root
    assert child.generation == expected["child"].generation
    assert child._parent_id == expected["child"]._parent_id
    assert child.entry_id == "child"
    assert tagged.tag == {"colour": "red"} and tagged._parent_id == "t"
    assert type(tagged) is TaggedSet and tagged.parent is root
    assert "_counter" not in child.__dict__  # a subset reads the marker
    assert "_generation" not in root.__dict__
    assert list(child._removed.items()) == list(
        expected["child"]._removed.items())
    assert list(child._removed) == ["one"]
    assert root.generational_updates(0) == expected.generational_updates(0)
    assert root.generational_updates(2, 10) == expected.generational_updates(
        2, 10)
    conn.close()


def test_a_set_stored_by_the_earlier_layout_loads(db):
    # Its state a dict of attributes, as persistent pickles by default.
    old = GSet("old")
    old.add(Thing(1))
    state = dict(old.__dict__)
    state["_removals"] = generationalset.BTrees.LOBTree.LOBTree()
    state["_removed"] = generationalset.BTrees.OLBTree.OLBTree()
    loaded = GSet.__new__(GSet)
    loaded.__setstate__(state)
    assert loaded.generational_updates(0) == old.generational_updates(0)
    assert isinstance(loaded.__getstate__(), tuple)  # written anew, compact
    loaded.remove(Thing(1))
    assert list(loaded._removals.values()) == [1]


def test_a_set_that_never_removed_stores_no_removal_trees(db):
    s, conn = _stored(db, lambda: GSet("s"))
    classes = {type(conn.get(r.oid)).__name__
               for r in _records_of_last_transaction(db)}
    assert classes == {"ContentsBTree", "GenerationsBTree",
                       "GenerationalSet", "PersistentMapping"}
    assert not s._removals and "x" not in s._removed
    s.add(Thing("x"))
    s.remove(Thing("x"))
    transaction.commit()
    classes = {type(conn.get(r.oid)).__name__
               for r in _records_of_last_transaction(db)}
    assert {"LOBTree", "OLBTree"} <= classes
    # The class's empty ones stay empty for every other set.
    assert not GSet("other")._removals and not GSet._removed
    s.add(Thing("x"))
    assert s.generational_updates(1) == {
        "generation": 4, "adds": [Thing("x")]}
    transaction.abort()
    conn.close()
