"""The conformance vectors the JS client is tested against
(clients/js/test/vectors.json): right for the Python reference client,
up to date with their generator, and covering every kind of entry."""
import collections
import copy
import importlib.util
import json
import pathlib

import hypothesis
import pytest

from myproject.client import apply_json_updates

FOLDER = pathlib.Path(__file__).resolve().parents[1] / "clients" / "js" / "test"
DATA = json.loads((FOLDER / "vectors.json").read_text(encoding="utf-8"))
VECTORS = DATA["vectors"]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "make_vectors", FOLDER / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_vector(vector):
    state = copy.deepcopy(vector["state"])
    if vector.get("raises"):
        with pytest.raises((KeyError, TypeError)):
            apply_json_updates(state, vector["updates"])
    else:
        assert apply_json_updates(state, vector["updates"]) == vector["expected"]
    assert state == vector["state"]


@pytest.mark.parametrize("vector", VECTORS,
                         ids=[f"{i}" for i in range(len(VECTORS))])
def test_the_reference_client_gives_the_expected_state(vector):
    check_vector(vector)


def is_random(vector):
    return vector["name"].startswith("random")


def test_the_committed_file_is_what_the_generator_writes():
    text = load_generator().generate()
    if DATA["hypothesis"] == hypothesis.__version__:
        assert text == (FOLDER / "vectors.json").read_text(encoding="utf-8"), (
            "vectors.json is out of date: "
            "python clients/js/test/make_vectors.py")
        return
    # Another hypothesis draws other random examples from the same seed:
    # the hand-written vectors are still the committed ones, and what it
    # draws holds for the reference client too.
    fresh = json.loads(text)["vectors"]
    assert [v for v in fresh if not is_random(v)] == [
        v for v in VECTORS if not is_random(v)], (
        "vectors.json is out of date: python clients/js/test/make_vectors.py")
    assert len([v for v in fresh if is_random(v)]) >= 300
    for vector in fresh:
        check_vector(vector)


def kinds(updates):
    """Return the kinds of entries the updates hold."""
    found = set()

    def walk(entry, depth):
        where = "top" if depth == 0 else "set"
        if "contents" in entry:
            found.add(f"contents at {where}")
            if not entry["contents"]:
                found.add("empty contents")
        if entry.get("removals"):
            found.add(f"removals at {where}")
        if entry.get("adds"):
            found.add(f"adds at {where}")
        for item in entry.get("adds", []) + entry.get("contents", []):
            if "id" in item:
                found.add("document")
            else:
                found.add(f"set entry at depth {min(depth + 1, 3)}")
                if set(item) == {"set"}:
                    found.add("bare set entry")
                walk(item, depth + 1)

    walk(updates, 0)
    return found


def test_the_vectors_cover_every_kind_of_entry():
    counts = collections.Counter()
    random = [v for v in VECTORS if is_random(v)]
    for vector in random:
        counts.update(kinds(vector["updates"]))
        if vector["updates"]["generation"] < vector["state"]["generation"]:
            counts["client ahead of the server"] += 1
        if vector["state"]["generation"] > 0 and any(
                "contents" in e for e in vector["updates"].get("adds", [])):
            counts["a set sent whole to a client at g > 0"] += 1
    assert len(random) >= 300
    for kind in ("contents at top", "contents at set", "empty contents",
                 "removals at top", "removals at set", "adds at top",
                 "adds at set", "document", "set entry at depth 1",
                 "set entry at depth 2", "set entry at depth 3",
                 "bare set entry", "client ahead of the server",
                 "a set sent whole to a client at g > 0"):
        assert counts[kind] >= 3, (kind, counts)
    edges = [v for v in VECTORS if not is_random(v)]
    assert len(edges) >= 20
    assert sum(1 for v in edges if v.get("raises")) >= 2
    assert len({json.dumps([v["state"], v["updates"]]) for v in VECTORS}) == (
        len(VECTORS))
