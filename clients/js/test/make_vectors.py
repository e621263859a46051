"""Write vectors.json: conformance cases shared by the Python and JS clients.

Each vector is a client state, the updates the server sends it and the state
``myproject.client.apply_json_updates`` makes of them, all in the HTTP API's
JSON form.  Most come from random operations on real GSet trees (nested,
tiny ``maximum_removals``, removed, re-added and replaced subsets), driven by
hypothesis with a fixed seed so the file is reproducible; the rest are
hand-picked edge cases.  Run from the top of the checkout::

    python clients/js/test/make_vectors.py

and commit the result; tests/test_js_vectors.py checks it is up to date.
"""
import copy
import json
import pathlib
import sys

import hypothesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from myproject.client import EMPTY, apply_json_updates
from myproject.generationalset import GSet
from myproject.sync import to_json

PATH = pathlib.Path(__file__).with_name("vectors.json")
# Few ids, so that ids collide, are removed and come back.  Some are
# property names a JS object inherits, some look like array indexes.
IDS = ["a", "b", "1", "10", "__proto__", "constructor"]
MAX_DEPTH = 4
EXAMPLES = 250


class Doc:
    """A stored document: its JSON object is what the API sends."""

    __slots__ = ("id", "data")

    def __init__(self, id, data):
        self.id = id
        self.data = data


def json_members(s):
    return {id: json_members(ob) if isinstance(ob, GSet) else ob.data
            for id, ob in s.items()}


def json_state(root):
    return {"generation": root.generation, "contents": json_members(root)}


def tree_sets(root):
    """Return [(set, path)] for every set in the tree."""
    found = []

    def walk(s, path):
        found.append((s, path))
        for id, ob in s.items():
            if isinstance(ob, GSet):
                walk(ob, path + (id,))

    walk(root, ())
    return found


def subtree(contents, path):
    for id in path:
        contents = contents.get(id)
        if not isinstance(contents, dict):
            return {}
    return contents


class Model:
    """Random operations on a real tree, remembering every client state."""

    def __init__(self, data, maximum_removals):
        self.data = data
        self.max = maximum_removals
        self.root = GSet(maximum_removals=maximum_removals)
        self.detached = []
        self.version = 0
        self.history = {}
        self.record()

    def draw(self, strategy):
        return self.data.draw(strategy)

    def new_doc(self, id):
        self.version += 1
        data = {"id": id, "v": self.version}
        extra = self.draw(st.sampled_from(["", "", "set", "contents", "deep"]))
        if extra == "set":  # a document's own "set" field: still a document
            data["set"] = self.draw(st.sampled_from(IDS))
        elif extra == "contents":
            data["contents"] = []
        elif extra == "deep":
            data["note"] = {"text": "é ✓", "tags": [1, None, True]}
        return Doc(id, data)

    def new_set(self, id, parent=None):
        return GSet(id, parent, maximum_removals=self.max)

    def pick_set(self, max_depth=MAX_DEPTH):
        candidates = [s for s, path in tree_sets(self.root)
                      if len(path) <= max_depth]
        return self.draw(st.sampled_from(candidates))

    def detach(self, target, id):
        old = target.get(id)
        if isinstance(old, GSet):
            self.detached.append(old)

    def op_add(self):
        target = self.pick_set()
        id = self.draw(st.sampled_from(IDS))
        self.detach(target, id)
        target.add(self.new_doc(id))

    def op_change(self):
        target = self.pick_set()
        ids = [id for id, ob in target.items() if isinstance(ob, Doc)]
        if ids:
            target.changed(self.new_doc(self.draw(st.sampled_from(ids))))

    def op_remove(self):
        target = self.pick_set()
        ids = [id for id, _ in target.items()]
        if ids:
            id = self.draw(st.sampled_from(ids))
            self.detach(target, id)
            target.remove(target[id], id)

    def op_new_subset(self):
        target = self.pick_set(MAX_DEPTH - 1)
        id = self.draw(st.sampled_from(IDS))
        self.detach(target, id)
        if self.draw(st.booleans()):
            # Made with (id, parent), it joins on its first change.
            self.new_set(id, target).add(
                self.new_doc(self.draw(st.sampled_from(IDS))))
        else:
            target.add(self.new_set(id))

    def op_build_elsewhere(self):
        target = self.pick_set(MAX_DEPTH - 1)
        id = self.draw(st.sampled_from(IDS))
        built = self.new_set(id)
        for _ in range(self.draw(st.integers(0, 5))):
            item = self.draw(st.sampled_from(IDS))
            if item in built and self.draw(st.booleans()):
                built.remove(built[item])
            else:
                built.add(self.new_doc(item))
        self.detach(target, id)
        target.add(built)

    def op_rejoin(self):
        # A removed or replaced set comes back: re-added, or changed (a set
        # with a parent rejoins it on its first change).
        if not self.detached:
            return
        s = self.draw(st.sampled_from(self.detached))
        if s.parent is None:
            return
        self.detach(s.parent, s.id)
        if self.draw(st.booleans()):
            s.parent.add(s)
        else:
            s.add(self.new_doc(self.draw(st.sampled_from(IDS))))

    OPERATIONS = ["op_add", "op_add", "op_change", "op_remove", "op_remove",
                  "op_new_subset", "op_build_elsewhere", "op_rejoin"]

    def step(self):
        getattr(self, self.draw(st.sampled_from(self.OPERATIONS)))()
        self.record()

    def record(self):
        state = json_state(self.root)
        self.history[state["generation"]] = copy.deepcopy(state)

    def vectors(self):
        """Return vectors for some client generations, checked for the
        mirror invariant on the way (a wrong vector must never be written)."""
        current = json_state(self.root)
        clients = dict(self.history)
        clients[0] = EMPTY
        ahead = current["generation"] + self.draw(st.integers(1, 5))
        clients[ahead] = {"generation": ahead,
                          "contents": {"z": {"id": "z", "stale": True}}}
        generations = sorted(clients)
        found = []
        for g in self.draw(st.lists(st.sampled_from(generations),
                                    min_size=1, max_size=4, unique=True)):
            found.append(self.vector("tree", clients[g], self.root, current))
        # A set polled on its own, with what the client holds under its path.
        subsets = tree_sets(self.root)[1:]
        for _ in range(self.draw(st.integers(0, 2)) if subsets else 0):
            s, path = self.draw(st.sampled_from(subsets))
            g = self.draw(st.sampled_from(generations))
            held = {"generation": g,
                    "contents": subtree(clients[g]["contents"], path)}
            want = {"generation": current["generation"],
                    "contents": subtree(current["contents"], path)}
            found.append(self.vector("subset", held, s, want))
        return found

    def vector(self, kind, state, s, want):
        updates = to_json(s.generational_updates(state["generation"]))
        before = copy.deepcopy(state)
        expected = apply_json_updates(state, updates)
        assert expected == want, (state, updates, want)
        assert state == before
        return {"name": f"random {kind} poll at generation "
                        f"{state['generation']} of {want['generation']}",
                "state": state, "updates": updates, "expected": expected}


def random_vectors():
    found = []

    @seed(14)
    @settings(max_examples=EXAMPLES, derandomize=True, database=None,
              deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data(), maximum_removals=st.integers(1, 3),
           steps=st.integers(1, 25))
    def run(data, maximum_removals, steps):
        model = Model(data, maximum_removals)
        for _ in range(steps):
            model.step()
        found.extend(model.vectors())

    run()
    return found


def doc(id, **fields):
    return {"id": id, **fields}


HELD = {"generation": 7, "contents": {
    "messages": {"m1": doc("m1", text="hi"), "m2": doc("m2", text="yo")},
    "tasks": {"work": {"w1": doc("w1", done=False)}, "t1": doc("t1")},
}}

# (name, state, updates): the expected state is the reference client's.
EDGE_CASES = [
    ("up to date: only the generation changes",
     HELD, {"generation": 7}),
    ("contents at the top replaces everything held (client ahead of a "
     "restored server)",
     HELD, {"generation": 4, "contents": [
         {"set": "messages", "contents": [doc("m9")]}]}),
    ("empty contents empties a set",
     HELD, {"generation": 8, "adds": [{"set": "messages", "contents": []}]}),
    ("empty contents at the top empties the tree",
     HELD, {"generation": 2, "contents": []}),
    ("a nested set replaced whole (contents) drops what was held in it",
     HELD, {"generation": 9, "adds": [{"set": "tasks", "adds": [
         {"set": "work", "contents": [doc("w2", done=True)]}]}]}),
    ("a set entry inside contents starts from empty, not from the held set",
     HELD, {"generation": 9, "adds": [{"set": "tasks", "contents": [
         {"set": "work", "adds": [doc("w3")]}]}]}),
    ("removal of an id not held changes nothing",
     HELD, {"generation": 8, "adds": [{"set": "messages",
                                       "removals": ["unknown"]}]}),
    ("removal of a whole set",
     HELD, {"generation": 8, "removals": ["tasks"]}),
    ("a set entry for a set not held starts from empty",
     HELD, {"generation": 8, "adds": [{"set": "new", "adds": [doc("n1")]}]}),
    ("a bare set entry creates an empty set when none is held",
     HELD, {"generation": 8, "adds": [{"set": "new"}]}),
    ("a bare set entry leaves a held set as it is",
     HELD, {"generation": 8, "adds": [{"set": "messages"}]}),
    ("removals are dropped before adds: an id removed and added comes back",
     HELD, {"generation": 8, "adds": [{"set": "messages", "removals": ["m1"],
                                       "adds": [doc("m1", text="again")]}]}),
    ("a set entry applies to the set held before the entry's removals",
     HELD, {"generation": 8, "adds": [{"set": "tasks", "removals": ["work"],
                                       "adds": [{"set": "work",
                                                 "adds": [doc("w4")]}]}]}),
    ("the same document twice in adds: the later one wins",
     HELD, {"generation": 8, "adds": [{"set": "messages", "adds": [
         doc("m3", n=1), doc("m3", n=2)]}]}),
    ("the same set twice in adds: each entry applies to the set held before",
     HELD, {"generation": 8, "adds": [{"set": "tasks", "adds": [
         {"set": "work", "adds": [doc("w5")]},
         {"set": "work", "adds": [doc("w6")]}]}]}),
    ("a document replaces a set held under its id",
     HELD, {"generation": 8, "adds": [{"set": "tasks", "adds": [
         doc("work", text="now a document")]}]}),
    ("a set replaces a document held under its id (via contents)",
     HELD, {"generation": 8, "adds": [{"set": "tasks", "adds": [
         {"set": "t1", "contents": [doc("x")]}]}]}),
    ("a set entry without contents over a held document merges into the "
     "document's fields (the reference client treats any held object as "
     "a set)",
     HELD, {"generation": 8, "adds": [{"set": "tasks", "adds": [
         {"set": "t1", "adds": [doc("x")]}]}]}),
    ("a document with set, contents and adds fields is a document: it has "
     "an id",
     HELD, {"generation": 8, "adds": [{"set": "messages", "adds": [
         doc("m4", set="tasks", contents=[], adds=[doc("q")])]}]}),
    ("ids that are properties every JS object inherits",
     EMPTY, {"generation": 3, "adds": [
         {"set": "__proto__", "adds": [doc("constructor"), doc("toString")]},
         {"set": "hasOwnProperty", "adds": [doc("__proto__", v=1)]},
         doc("valueOf"), doc("isPrototypeOf")]}),
    ("removal and set entries of inherited property names not held",
     {"generation": 3, "contents": {"a": {}}},
     {"generation": 4, "removals": ["__proto__", "constructor", "toString"],
      "adds": [{"set": "a", "adds": [{"set": "toString"}]}]}),
    ("removal of a held __proto__ member",
     {"generation": 3, "contents": {"__proto__": {"x": doc("x")}, "b": {}}},
     {"generation": 4, "removals": ["__proto__"]}),
    ("ids that look like array indexes",
     EMPTY, {"generation": 2, "adds": [{"set": "s", "adds": [
         doc("10"), doc("2"), doc("01"), doc("1"), doc("-1"), doc("1.5")]}]}),
    ("ids with spaces and non-ASCII characters",
     EMPTY, {"generation": 2, "adds": [{"set": "a set", "adds": [
         doc("é ✓"), doc("w 1"), doc("日本")]}]}),
    ("five levels deep, with a removal at the bottom",
     {"generation": 5, "contents": {"a": {"b": {"c": {"d": {
         "e": {"x": doc("x"), "y": doc("y")}}}}}}},
     {"generation": 6, "adds": [{"set": "a", "adds": [{"set": "b", "adds": [
         {"set": "c", "adds": [{"set": "d", "adds": [
             {"set": "e", "removals": ["x"], "adds": [doc("z")]}]}]}]}]}]}),
    ("documents are JSON values of any shape",
     EMPTY, {"generation": 2, "adds": [doc(
         "d", n=1.5, big=12345678901234, neg=-3, nothing=None, yes=True,
         list=[[], {}, [1, [2]]], nested={"set": "x", "id": "y"})]}),
    ("an entry with neither id nor set is refused",
     HELD, {"generation": 8, "adds": [{"set": "messages", "adds": [
         {"text": "no id"}]}]}),
    ("a set entry whose set is null is refused",
     HELD, {"generation": 8, "adds": [{"set": None, "adds": []}]}),
    ("updates without a generation are refused",
     HELD, {"adds": []}),
]


def edge_vectors():
    found = []
    for name, state, updates in EDGE_CASES:
        vector = {"name": name, "state": state, "updates": updates}
        try:
            vector["expected"] = apply_json_updates(state, updates)
        except (KeyError, TypeError):
            vector["raises"] = True
        found.append(vector)
    return found


def generate():
    """Return the vectors file's text."""
    vectors, seen = [], set()
    for vector in edge_vectors() + random_vectors():
        key = json.dumps([vector["state"], vector["updates"]], sort_keys=True)
        if key not in seen:
            seen.add(key)
            vectors.append(vector)
    lines = ",\n".join(json.dumps(v, ensure_ascii=False) for v in vectors)
    return (
        '{"about": "Conformance vectors of apply_json_updates, written by '
        'clients/js/test/make_vectors.py: do not edit.",\n'
        f'"hypothesis": {json.dumps(hypothesis.__version__)},\n'
        f'"vectors": [\n{lines}\n]}}\n')


def main():
    text = generate()
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text)['vectors'])} vectors to {PATH}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
