"""The mirror invariant, checked over random operation sequences.

For every sequence of changes and every generation g a client could hold,
applying ``generational_updates(g)`` to the client's state at g gives the
server's current state: for the whole tree and for every subtree polled on
its own.
"""
import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myproject.client import EMPTY, apply_updates, state_of
from myproject.generationalset import GSet

IDS = ["a", "b", "c", "d", "e"]
MAX_DEPTH = 4


class Thing:
    """An immutable item; its version tells one change from another."""

    __slots__ = ("id", "version")

    def __init__(self, id, version):
        self.id = id
        self.version = version

    def __eq__(self, other):
        return (isinstance(other, Thing)
                and (self.id, self.version) == (other.id, other.version))

    def __hash__(self):
        return hash((self.id, self.version))

    def __repr__(self):
        return "Thing(%r, %r)" % (self.id, self.version)


def tree_sets(root):
    """Return [(set, path, depth)] for every set in the tree."""
    found = []

    def walk(s, path):
        found.append((s, path, len(path)))
        for id, ob in s.items():
            if isinstance(ob, GSet):
                walk(ob, path + (id,))

    walk(root, ())
    return found


def subtree(state_contents, path):
    """Return the members a client holds at path, {} when it holds none."""
    members = state_contents
    for id in path:
        members = members.get(id)
        if not isinstance(members, dict):
            return {}
    return members


class Model:
    """Drives random operations on a real tree and checks every client."""

    def __init__(self, data, maximum_removals):
        self.data = data
        self.max = maximum_removals
        self.root = GSet(maximum_removals=maximum_removals)
        self.detached = []      # removed or replaced sets
        self.version = 0
        self.history = {}       # generation -> client state at generation
        self.pagers = []        # (state, limit) of clients paging
        self.record()

    def draw(self, strategy):
        return self.data.draw(strategy)

    def new_thing(self, id):
        self.version += 1
        return Thing(id, self.version)

    def pick_set(self, max_depth=MAX_DEPTH):
        candidates = [s for s, _, depth in tree_sets(self.root)
                      if depth <= max_depth]
        return self.draw(st.sampled_from(candidates))

    def new_set(self, id, parent=None):
        return GSet(id, parent, maximum_removals=self.max)

    # Operations; each changes the tree or does nothing.

    def op_add_item(self):
        target = self.pick_set()
        id = self.draw(st.sampled_from(IDS))
        self.forget_replaced(target, id)
        target.add(self.new_thing(id))

    def op_change_item(self):
        target = self.pick_set()
        items = [id for id, ob in target.items() if isinstance(ob, Thing)]
        if items:
            target.changed(self.new_thing(self.draw(st.sampled_from(items))))

    def op_remove(self):
        target = self.pick_set()
        ids = [id for id, _ in target.items()]
        if ids:
            id = self.draw(st.sampled_from(ids))
            ob = target[id]
            if isinstance(ob, GSet):
                self.detached.append((ob, target))
            target.remove(ob, id)

    def op_new_subset(self):
        target = self.pick_set(MAX_DEPTH - 1)
        id = self.draw(st.sampled_from(IDS))
        self.forget_replaced(target, id)
        if self.draw(st.booleans()):
            # A child made with (id, parent) joins on its first change.
            child = self.new_set(id, target)
            child.add(self.new_thing(self.draw(st.sampled_from(IDS))))
        else:
            target.add(self.new_set(id))

    def op_build_elsewhere_then_add(self):
        target = self.pick_set(MAX_DEPTH - 1)
        id = self.draw(st.sampled_from(IDS))
        built = self.new_set(id)
        for _ in range(self.draw(st.integers(0, 6))):
            item_id = self.draw(st.sampled_from(IDS))
            if item_id in built and self.draw(st.booleans()):
                built.remove(built[item_id])
            else:
                built.add(self.new_thing(item_id))
        self.forget_replaced(target, id)
        target.add(built)

    def pick_detached(self):
        """Return a detached set that can join its former parent again (it
        is in the tree), or None."""
        in_tree = {id(t) for t, _, _ in tree_sets(self.root)}
        candidates = [(s, former) for s, former in self.detached
                      if s.parent is None and id(former) in in_tree
                      and id(s) not in in_tree]
        if not candidates:
            return None
        return self.draw(st.sampled_from(candidates))

    def forget_replaced(self, target, id):
        old = target.get(id)
        if isinstance(old, GSet):
            self.detached.append((old, target))

    def op_readd_detached(self):
        picked = self.pick_detached()
        if picked is not None:
            s, former = picked
            self.forget_replaced(former, s.id)
            former.add(s)

    def op_change_detached(self):
        # A removed set is a root of its own: changing it leaves the tree
        # alone, and it joins the tree again with its new history.
        picked = self.pick_detached()
        if picked is not None:
            s, _ = picked
            s.add(self.new_thing(self.draw(st.sampled_from(IDS))))

    def op_move_subset(self):
        """p1.remove(c); p2.add(c): a set moves within the tree."""
        sets = tree_sets(self.root)
        movable = [(s, path) for s, path, _ in sets[1:]]
        if not movable:
            return
        s, path = self.draw(st.sampled_from(movable))
        targets = [t for t, tpath, depth in sets
                   if tpath[:len(path)] != path and depth < MAX_DEPTH
                   and t is not s.parent]
        if not targets:
            return
        target = self.draw(st.sampled_from(targets))
        s.parent.remove(s, path[-1])
        self.forget_replaced(target, s.id)
        target.add(s)

    OPERATIONS = [
        "op_add_item", "op_add_item", "op_change_item", "op_remove",
        "op_remove", "op_new_subset", "op_build_elsewhere_then_add",
        "op_readd_detached", "op_change_detached", "op_move_subset",
    ]

    def step(self):
        getattr(self, self.draw(st.sampled_from(self.OPERATIONS)))()
        self.record()
        self.check()
        self.advance_pagers()

    # Clients that page, one page per step while the tree goes on changing

    def advance_pagers(self):
        if self.draw(st.booleans()):
            g = self.draw(st.sampled_from(
                sorted(self.history) + [0, self.root.generation + 3]))
            held = (self.history.get(g)
                    or {"generation": g, "contents": {"z": Thing("z", -1)}})
            if g == 0:
                held = EMPTY
            self.pagers.append((held, self.draw(st.integers(1, 4))))
        still = []
        for state, limit in self.pagers:
            page = self.root.generational_updates(state["generation"], limit)
            state = apply_updates(state, page)
            if page.get("more"):
                still.append((state, limit))
            else:  # done: it must mirror the tree as it is now
                assert state == state_of(self.root), (limit, page)
        self.pagers = still

    def finish_pagers(self):
        for state, limit in self.pagers:
            state = page_through(self.root, state, limit)
            assert state == state_of(self.root)

    # Checking

    def record(self):
        state = state_of(self.root)
        assert state["generation"] == self.root.generation
        previous = self.history.get(state["generation"])
        assert previous is None or previous == state, "generation reused"
        self.history[state["generation"]] = copy.deepcopy(state)

    def check(self):
        current = state_of(self.root)
        generation = current["generation"]
        assert generation == max(self.history)
        clients = dict(self.history)
        clients[0] = EMPTY
        # Clients ahead of the server (restored backup) hold anything.
        stale = {"generation": 0, "contents": {"z": Thing("z", -1)}}
        for ahead in (generation + 1, generation + 7):
            clients[ahead] = dict(stale, generation=ahead)
        for g, state in clients.items():
            updates = self.root.generational_updates(g)
            assert apply_updates(state, updates) == current, (g, updates)
            if g == generation:
                assert updates == {"generation": generation}
        # Every subtree polled on its own.
        for s, path, _ in tree_sets(self.root)[1:]:
            want = subtree(current["contents"], path)
            for g, state in clients.items():
                held = {"generation": g,
                        "contents": subtree(state["contents"], path)}
                got = apply_updates(held, s.generational_updates(g))
                assert got == {"generation": generation, "contents": want}, (
                    path, g)
        # Pages, from a few of those generations, for the tree and a subtree.
        sets = tree_sets(self.root)
        for _ in range(3):
            g = self.draw(st.sampled_from(sorted(clients)))
            limit = self.draw(st.integers(1, 5))
            got = page_through(self.root, clients[g], limit)
            assert got == current, (g, limit)
            if len(sets) > 1:
                s, path, _ = self.draw(st.sampled_from(sets[1:]))
                held = {"generation": g,
                        "contents": subtree(clients[g]["contents"], path)}
                want = subtree(current["contents"], path)
                got = page_through(s, held, limit)
                assert got == {"generation": generation, "contents": want}, (
                    path, g, limit)
        # Length and containment agree with iteration, and the removals
        # remembered by generation and by id are the same, bounded, and
        # of ids that are not members.
        for s, _, _ in tree_sets(self.root):
            members = list(s)
            assert len(s) == len(members)
            assert all(id in s for id, _ in s.items())
            by_generation = {id: g for g, id in s._removals.items()}
            assert by_generation == dict(s._removed.items())
            assert not any(id in s for id in by_generation)
            # At most maximum_removals are remembered; older ones are kept
            # only while an event of the subset's tree is older than them,
            # and every removal forgotten is older than all its events.
            remembered = [g for g in by_generation.values() if g > s._evicted]
            assert len(remembered) == s._remembered <= self.max
            assert len(by_generation) - len(remembered) == s._kept
            assert s.forgotten <= s._evicted
            events = subtree_events(s)
            if events:
                assert s.forgotten < min(events)


def page_through(s, state, limit):
    """Apply pages of s's updates to state until none says more; check
    every page's size and cursor on the way."""
    tree_generation = s.root.generation
    while True:
        page = s.generational_updates(state["generation"], limit)
        assert members_in(page) <= max(limit, 2 * (MAX_DEPTH + 2)), page
        cursor = page["generation"]
        assert cursor <= tree_generation
        assert page.get("more", False) == (cursor < tree_generation), page
        if page.get("more"):
            assert cursor > min(state["generation"], tree_generation) or (
                state["generation"] > tree_generation), page
        state = apply_updates(state, page)
        if not page.get("more"):
            return state


def members_in(entry):
    """Count the documents, removed ids and set entries of a page."""
    count = len(entry.get("removals", ()))
    for item in entry.get("adds", entry.get("contents", ())):
        count += 1 + (members_in(item) if isinstance(item, dict) else 0)
    return count


def subtree_events(s):
    """Return the generations of every member of s's subtree."""
    found = []
    for g, ob in s._changes():
        found.append(g)
        if isinstance(ob, GSet):
            found.extend(subtree_events(ob))
    return found


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), maximum_removals=st.integers(1, 3),
       steps=st.integers(1, 30))
def test_every_client_generation_mirrors_the_tree(data, maximum_removals,
                                                  steps):
    model = Model(data, maximum_removals)
    for _ in range(steps):
        model.step()
    model.finish_pagers()
