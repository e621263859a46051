"""The reference client: how a client applies generational updates.

Every client (iOS, Android, web) implements ``apply_updates``; README.txt
walks through it step by step.  A client's state is a dict::

    {'generation': g, 'contents': {id: item or {id: ...}}}

where a member set is a dict of its own members.  ``EMPTY`` is the state
of a client that holds nothing (generation 0).

Two forms of updates exist.  ``GenerationalSet.generational_updates``
returns the library form: member sets are dicts ``{'id': ID, ...}``, items
are the stored objects.  The HTTP API sends the JSON form: documents are
JSON objects that always carry ``"id"``, member sets are objects that carry
``"set"`` (the set's id) and never ``"id"``.
"""

from .generationalset import GenerationalSet

EMPTY = {"generation": 0, "contents": {}}


def apply_updates(state, updates, *, get_id=None, subset_id=None):
    """Return the state after applying updates to state (left unchanged).

    ``subset_id(entry)`` returns a member set's id, or None for an item;
    ``get_id(item)`` returns an item's id.  The defaults read the library
    form (dict entries are sets, items have an ``id`` attribute).
    """
    get_id = get_id or _library_item_id
    subset_id = subset_id or _library_subset_id
    return {
        "generation": updates["generation"],
        "contents": _apply(state["contents"], updates, get_id, subset_id),
    }


def apply_json_updates(state, updates):
    """Return the state after applying updates in the HTTP API's JSON form."""
    return apply_updates(
        state, updates, get_id=_json_item_id, subset_id=_json_subset_id)


def _apply(members, entry, get_id, subset_id):
    if "contents" in entry:
        # 1. contents: the complete membership replaces what is held.
        old, result, entries = {}, {}, entry["contents"]
    else:
        # 2. Otherwise drop the removals, then upsert the adds.
        old = members
        result = dict(members)
        for id in entry.get("removals", ()):
            result.pop(id, None)
        entries = entry.get("adds", ())
    for item in entries:
        id = subset_id(item)
        if id is None:
            result[get_id(item)] = item
        else:
            # 3. A member set's entry applies to the set held under its id.
            held = old.get(id)
            held = held if isinstance(held, dict) else {}
            result[id] = _apply(held, item, get_id, subset_id)
    return result


def state_of(s):
    """Return the state a client mirroring set s (and its tree) must hold."""
    return {"generation": s._root().generation, "contents": _members(s)}


def _members(s):
    return {
        id: _members(ob) if isinstance(ob, GenerationalSet) else ob
        for id, ob in s.items()
    }


def _library_item_id(item):
    return item.id


def _library_subset_id(entry):
    return entry["id"] if isinstance(entry, dict) else None


def _json_item_id(item):
    return item["id"]


def _json_subset_id(entry):
    return None if "id" in entry else entry["set"]
