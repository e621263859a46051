"""The tree's helpers: renumbering a set's members, the oldest change of a
subtree, detaching a set, and ``upgrade`` of sets an earlier layout stored.
"""

from . import ContentsBTree, GenerationalSet, GenerationsBTree, notify


def _detach(s):
    """Make s, a set leaving its parent, a root of its own again."""
    s._counter = s.generation
    s.parent = None
    s._parent_id = None


def _oldest_event(s):
    """Return the generation of the oldest member change in s's subtree
    (a number above every generation when it has none)."""
    contents = s._contents
    # (During a change a member may be out of _contents for a moment: it
    # comes back as the newest, so the oldest is among the others.)
    oldest = contents.minKey() if contents else float("inf")
    for subset in s._subsets.values():
        oldest = min(oldest, subset._generation, _oldest_event(subset))
    return oldest


def _renumber(s, last, start=None):
    """Give the members of s (and of its subsets) fresh generations after
    last, in their order; return the last generation given.

    With ``start``, s is joining a tree at that generation: its removals no
    longer matter (a client older than ``start`` gets it whole).  Without,
    s stays where it is (``upgrade``) and keeps its removals, all older
    than the new generations.
    """
    ids = {generation: id for id, generation in s._generations.items()}
    contents, generations = ContentsBTree(), GenerationsBTree()
    for old, ob in list(s._changes()):
        if isinstance(ob, GenerationalSet):
            if ob._contents or ob._subsets:
                last = _renumber(ob, last, start)  # its key: its last event
            else:
                last += 1
            ob._generation = last
            if start is not None:
                ob._joined = start
        else:
            last += 1
            contents[last] = ob
            generations[ids[old]] = last
    s._contents, s._generations = contents, generations
    if start is not None:
        if "_removals" in s.__dict__:  # back to the class's empty ones
            del s._removals, s._removed
        s._evicted = s._forgotten = s._kept = s._remembered = 0
    return last


def upgrade(s):
    """Bring set s and its subtree, stored by an earlier version of this
    package, to the current layout; return whether anything changed.

    Idempotent.  Member sets move out of the big BTrees into ``_subsets``;
    the removal counts are filled in.  A set whose forgotten removals are
    not older than every change of its subtree (the earlier layout forgot
    by count only), or a subset with changes older than its joining, has
    its members renumbered into fresh generations, as a set joining a tree
    would: clients get those members again once, and pages stay small.
    """
    changed = False
    if s._subsets is None:
        subsets = {}
        for id, generation in list(s._generations.items()):
            ob = s._contents[generation]
            if isinstance(ob, GenerationalSet):
                del s._contents[generation]
                del s._generations[id]
                subsets[id] = ob
                if ob.id != id:
                    ob._parent_id = id
        s._subsets = subsets
        changed = True
    if s._remembered is None:
        s._remembered = len(s._removals)
        changed = True
    if s._forgotten is None:
        s._forgotten = s._evicted
        changed = True
    for subset in s._subsets.values():
        changed = upgrade(subset) or changed
    oldest = _oldest_event(s)
    if oldest <= s._forgotten or (s.parent is not None
                                  and oldest < s._joined):
        root = s.root
        root._counter = _renumber(s, root._counter)
        if s.parent is not None:
            s.parent._put_set(s, s.entry_id)  # its new key in its parent
        notify(root)
        changed = True
    return changed
