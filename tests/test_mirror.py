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
        old = target.get(id)
        if isinstance(old, GSet):
            self.detached.append(old)
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
                self.detached.append(ob)
            target.remove(ob, id)

    def op_new_subset(self):
        target = self.pick_set(MAX_DEPTH - 1)
        id = self.draw(st.sampled_from(IDS))
        old = target.get(id)
        if isinstance(old, GSet):
            self.detached.append(old)
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
        old = target.get(id)
        if isinstance(old, GSet):
            self.detached.append(old)
        target.add(built)

    def pick_detached_with_parent(self):
        """Return a detached set that can rejoin its parent, or None.

        The set now under its id in the parent, which it would replace,
        is remembered as detached.
        """
        if not self.detached:
            return None
        s = self.draw(st.sampled_from(self.detached))
        if s.parent is None:
            return None
        old = s.parent.get(s.id)
        if isinstance(old, GSet) and old is not s:
            self.detached.append(old)
        return s

    def op_readd_detached(self):
        s = self.pick_detached_with_parent()
        if s is not None:
            s.parent.add(s)

    def op_change_detached(self):
        # A detached set with a parent rejoins it when it changes.
        s = self.pick_detached_with_parent()
        if s is not None:
            s.add(self.new_thing(self.draw(st.sampled_from(IDS))))

    OPERATIONS = [
        "op_add_item", "op_add_item", "op_change_item", "op_remove",
        "op_remove", "op_new_subset", "op_build_elsewhere_then_add",
        "op_readd_detached", "op_change_detached",
    ]

    def step(self):
        getattr(self, self.draw(st.sampled_from(self.OPERATIONS)))()
        self.record()
        self.check()

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
        # Length and containment agree with iteration, and the removals
        # remembered by generation and by id are the same, bounded, and
        # of ids that are not members.
        for s, _, _ in tree_sets(self.root):
            members = list(s)
            assert len(s) == len(members)
            assert all(id in s for id, _ in s.items())
            by_generation = {id: g for g, id in s._removals.items()}
            assert by_generation == dict(s._removed.items())
            assert len(by_generation) <= self.max
            assert not any(id in s for id in by_generation)


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), maximum_removals=st.integers(1, 3),
       steps=st.integers(1, 30))
def test_every_client_generation_mirrors_the_tree(data, maximum_removals,
                                                  steps):
    model = Model(data, maximum_removals)
    for _ in range(steps):
        model.step()
