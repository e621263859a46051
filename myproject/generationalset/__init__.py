"""Generational sets: ZODB sets that report what changed since a generation.

A tree of sets shares one integer generation, kept by the root set, that
grows by one on every change anywhere in the tree.  A client presents the
generation of the state it holds and ``generational_updates`` tells it what
to drop and what to upsert to hold the current state; with a ``limit`` it
tells it in pages (``paging.py``).  See docs/library.txt; its section
"Stored layout" describes every attribute of a set.

This package knows nothing of the rest of ``myproject``: it depends on
``persistent`` and ``BTrees`` only.
"""
import heapq

import BTrees.LOBTree
import BTrees.OLBTree
import persistent

from . import records
from .records import NO_REMOVALS

__all__ = [
    "GenerationalSet", "GSet",
    "StringIdGenerationalSet", "SGSet",
    "ValueGenerationalSet", "VGSet",
    "notify", "upgrade",
]


# The two big BTrees of a set have smaller nodes than BTrees' defaults (60
# items a bucket, 500 or 250 children an interior node).  A change rewrites
# whole nodes: the bucket of a changed member (with every member in it,
# when members are not persistent) and of its id, and, when a bucket splits
# or empties, its interior node.  Changes in a sync set land at random
# places (any member may change), so smaller nodes mean less to pickle and
# write at each commit: see docs/benchmarks.txt.  The price is more,
# smaller records.

class ContentsBTree(BTrees.LOBTree.LOBTree):
    """``_contents``: generation -> member."""

    max_leaf_size = 30
    max_internal_size = 128


class GenerationsBTree(BTrees.OLBTree.OLBTree):
    """``_generations``: id -> generation."""

    max_leaf_size = 30
    max_internal_size = 128


class _Marker:
    """The ``_counter`` of a subset (which has none): equal to no number."""

    __slots__ = ()

    def __repr__(self):
        return "<subset>"


_SUBSET = _Marker()


def notify(root):
    """Called with the root set after every generation bump; replace me."""


class GenerationalSet(persistent.Persistent):
    """A set of objects with ids whose changes are tracked by generation."""

    _evicted = 0
    _joined = 0
    _counter = _SUBSET
    _kept = 0
    _parent_id = None  # the id the parent holds this set under
    _removals = _removed = NO_REMOVALS
    # None: a set stored by an earlier layout, until upgrade() (evolve).
    _subsets = None
    _remembered = None
    _forgotten = None

    def __init__(self, id=None, parent=None, maximum_removals=99,
                 superset=False, id_attribute="id"):
        # superset is accepted and ignored, as since the seed's 0.2.0.
        self.id = id
        self.parent = parent
        self.maximum_removals = maximum_removals
        self.id_attribute = id_attribute
        self._contents = ContentsBTree()
        self._generations = GenerationsBTree()
        self._len = 0
        self._remembered = 0
        self._forgotten = 0
        self._subsets = {}
        if parent is None:
            self._counter = 1
        else:
            self._generation = parent.generation

    def __getstate__(self):
        return records.pickled(self.__dict__)

    def __setstate__(self, state):
        super().__setstate__(records.named(state))

    @property
    def generation(self):
        """The tree's generation for a root set; for a subset, the
        generation of its latest change (that of its last joining, or the
        one it was made with, if it never changed since)."""
        counter = self._counter
        return self._generation if counter is _SUBSET else counter

    @property
    def root(self):
        """The top-level set of the tree this set belongs to (itself for a root)."""
        s = self
        while s.parent is not None:
            s = s.parent
        return s

    def __repr__(self):
        return "<%s %r at generation %s>" % (
            self.__class__.__name__, self.id, self.generation)

    # Ids

    def get_id(self, ob):
        """Return the id of ob (its ``id_attribute``); override to change."""
        return getattr(ob, self.id_attribute)

    @property
    def entry_id(self):
        """The id this set has in its parent's updates (and membership)."""
        id = self._parent_id
        return self.id if id is None else id

    # The tree

    def _updated(self):
        """Bump the tree's generation for a change in self; return it."""
        counter = self._counter
        if counter is not _SUBSET:
            self._counter = generation = counter + 1
            notify(self)
        else:
            parent = self.parent
            id = self._parent_id
            parent.add(self, parent.get_id(self) if id is None else id)
            self._generation = generation = parent.generation
        return generation

    def _adopt(self, ob, id):
        """Make ob, a set joining self under id, part of this tree.

        Return the first generation of its joining.  A set with members
        has them renumbered into fresh generations of this tree, in their
        order, so its events are the tree's newest.
        """
        if ob.parent is None:
            ob.parent = self
        elif ob.parent is not self:
            raise ValueError(
                "%r belongs to another set; remove it there first" % (ob,))
        ob._parent_id = id
        if ob._counter is not _SUBSET:  # a root until now
            del ob._counter
            ob._generation = 0
        root = self.root
        start = root._counter + 1
        if ob._contents or ob._subsets:
            root._counter = _renumber(ob, start - 1, start)
        return start

    # Changes

    def add(self, ob, id=None):
        """Add ob, or record a change to the member with its id."""
        if id is None:
            id = self.get_id(ob)
        if isinstance(ob, GenerationalSet):
            self._put_set(ob, id)
            return
        counter = self._counter
        if counter is _SUBSET or self._subsets:
            self._put(ob, id, self._generations.get(id))
            return
        # A plain member of a root set without member sets, the common
        # case: one descent of _generations records a new id (and tells
        # whether it was new).
        generation = counter + 1
        generations = self._generations
        if not generations.insert(id, generation):
            self._put(ob, id, generations[id])  # a change to a member
            return
        # A new member: the steps of _put() that apply, without the call.
        self._contents[generation] = ob
        self._len += 1
        if id in self._removed:
            self._unremove(id)
        self._counter = generation
        notify(self)

    def changed(self, ob, id=None):
        """Record a change to ob; raise KeyError(id) if it is not a member."""
        if id is None:
            id = self.get_id(ob)
        if isinstance(ob, GenerationalSet) and self._subsets.get(id) is ob:
            self._put_set(ob, id)
            return
        old = self._generations.get(id)
        if old is None:
            raise KeyError(id)
        self._put(ob, id, old)

    def replace_unchanged(self, ob, id=None):
        """Hold ob in place of the member with its id, at that member's
        generation: for an object no client can tell from the one held,
        so there is no change to report.  Raise KeyError(id) if no member
        that is not a set has the id."""
        if id is None:
            id = self.get_id(ob)
        self._contents[self._generations[id]] = ob

    def _put(self, ob, id, old):
        """Make ob, not a set, the member with this id; old is the
        generation of the member it replaces, or None."""
        contents = self._contents
        if old is not None:
            del contents[old]
        elif id in self._subsets:
            self._drop_set(id)  # a set replaced by a plain member
        else:
            self._len += 1
            if id in self._removed:
                self._unremove(id)
        generation = self._updated()
        contents[generation] = ob
        self._generations[id] = generation
        if self._kept:
            self._forget()

    def _put_set(self, ob, id):
        """Make set ob the member with this id, or record a change in it.

        Member sets are kept in ``_subsets``, not in the two big BTrees: a
        change inside one rewrites no node of them, only this set's record.
        """
        subsets = self._subsets
        if subsets.get(id) is ob:  # a change in ob
            generation = self._updated()
            ob._generation = generation
            if self._kept:
                self._forget()
            return
        if ob.parent is not None and ob.parent is not self:
            raise ValueError(
                "%r belongs to another set; remove it there first" % (ob,))
        old = self._generations.get(id)
        if old is not None:  # a plain member replaced by a set
            del self._contents[old]
            del self._generations[id]
        elif id in subsets:
            self._drop_set(id)  # another set under this id
        else:
            self._len += 1
            if id in self._removed:
                self._unremove(id)
        start = self._adopt(ob, id)
        # (In _subsets after the bump: an ancestor joining its own parent
        # in that bump has not yet got ob, so it joins without members.)
        generation = self._updated()
        self._subsets = {**self._subsets, id: ob}
        ob._joined = start
        ob._generation = generation
        if self._kept:
            self._forget()

    def _drop_set(self, id):
        """Take the member set with this id out of _subsets; return it."""
        subsets = dict(self._subsets)
        s = subsets.pop(id)
        self._subsets = subsets
        _detach(s)
        return s

    def remove(self, ob, id=None):
        """Remove the member with ob's id; raise KeyError(id) if absent."""
        if id is None:
            id = self.get_id(ob)
        old = self._generations.pop(id, None)
        if old is not None:
            del self._contents[old]
        elif id in self._subsets:
            self._drop_set(id)
        else:
            raise KeyError(id)
        self._len -= 1
        generation = self._updated()
        if self._removals is NO_REMOVALS:
            self._removals = BTrees.LOBTree.LOBTree()
            self._removed = BTrees.OLBTree.OLBTree()
        self._removals[generation] = id
        self._removed[id] = generation
        remembered = self._remembered + 1
        maximum = self.maximum_removals
        if remembered > maximum:
            # The oldest remembered ones are no longer remembered: kept
            # for paged clients until _forget() may drop them.
            removals, evicted, kept = self._removals, self._evicted, self._kept
            while remembered > maximum:
                evicted = removals.minKey(evicted + 1)
                remembered -= 1
                kept += 1
            self._evicted, self._kept = evicted, kept
            self._forget()
        self._remembered = remembered

    def _unremove(self, id):
        """Drop the removal of id, which is a member again."""
        remembered = self._remembered
        generation = self._removed.pop(id)
        del self._removals[generation]
        if generation <= self._evicted:
            self._kept -= 1
        else:
            self._remembered = remembered - 1

    def _forget(self):
        """Drop kept removals older than every event of the subtree."""
        removals, removed = self._removals, self._removed
        oldest = _oldest_event(self)
        kept, forgotten = self._kept, None
        while kept:
            generation = removals.minKey()
            if generation >= oldest:
                break
            del removed[removals.pop(generation)]
            kept -= 1
            forgotten = generation
        if forgotten is not None:
            self._kept = kept
            self._forgotten = forgotten

    @property
    def forgotten(self):
        """The latest generation of a removal this set no longer knows."""
        return self._forgotten

    # Reading

    def _has(self, id):
        return id in self._generations or id in self._subsets

    def __getitem__(self, id):
        """Return the member with this id; raise KeyError if absent."""
        generation = self._generations.get(id)
        if generation is None:
            return self._subsets[id]
        return self._contents[generation]

    def get(self, id, default=None):
        """Return the member with this id, or default."""
        generation = self._generations.get(id)
        if generation is None:
            return self._subsets.get(id, default)
        return self._contents[generation]

    def __len__(self):
        """Return the number of members (O(1))."""
        return self._len

    def __iter__(self):
        """Iterate over the members, oldest change first."""
        return self.values()

    def items(self):
        """Iterate over (id, member) pairs in id order."""
        contents = self._contents
        pairs = ((id, contents[generation])
                 for id, generation in self._generations.items())
        if not self._subsets:
            return pairs
        return heapq.merge(pairs, sorted(self._subsets.items()),
                           key=lambda pair: pair[0])

    def values(self, min_generation=None):
        """Iterate over the members changed at or after min_generation,
        oldest change first."""
        if not self._subsets:
            return iter(self._contents.values(min_generation))
        return (ob for _, ob in self._changes(min_generation))

    def _changes(self, min_generation=None):
        """Iterate over (generation, member) of the members changed at or
        after min_generation, oldest change first: the big BTree merged
        with the few member sets."""
        low = 0 if min_generation is None else min_generation
        subsets = sorted((s._generation, s) for s in self._subsets.values()
                         if s._generation >= low)
        if not subsets:
            return iter(self._contents.items(min_generation))
        return heapq.merge(self._contents.items(min_generation), subsets,
                           key=lambda pair: pair[0])

    def __contains__(self, ob_or_id):
        """Return whether a member has ob_or_id's id (or is that id)."""
        try:
            id = self.get_id(ob_or_id)
        except AttributeError:
            id = ob_or_id
        try:
            return self._has(id)
        except TypeError:  # not comparable with the ids in this set
            return False

    def generational_updates(self, generation, limit=None, subset=False):
        """Return what a client at generation must apply to mirror this set.

        ``{'generation': G, 'removals': [...], 'adds': [...]}`` with empty
        lists left out, or ``'contents'`` instead of removals and adds when
        the client is older than the removals this set remembers, or newer
        than the tree (the server was restored from a backup).  G is the
        tree's generation.  Called for a member set by its parent (``subset``
        true), ``{'id': ID, ...}`` takes the place of the generation.

        With a ``limit``, the answer is one page: the changes up to a
        generation G' of at most ``limit`` members, ``'generation': G'`` (the
        cursor to present next) and ``'more': True`` while G' is short of
        the tree's generation (see ``paging.py``).  A boolean in limit's
        place is the seed's positional ``subset`` flag.
        """
        if isinstance(limit, bool):
            subset, limit = limit, None
        if limit is not None and not subset:
            from .paging import page
            return page(self, generation, limit)
        current = self._counter
        if generation == current and not subset:
            return {"generation": current}  # a root, up to date: the fast path
        if subset:
            if current is _SUBSET:
                current = self._generation
            result = {"id": self.entry_id}
        elif current is _SUBSET:
            return polled_subset_updates(self, generation)
        else:
            result = {"generation": current}
            if sent_whole(self, generation, current):
                return updates(self, result, 0, True)
        if generation >= current:
            return result  # nothing changed here since
        return updates(self, result, generation, False)


GSet = GenerationalSet


# The tree's helpers (renumbering, the oldest event, upgrade) use the class.
from .tree import _detach, _oldest_event, _renumber, upgrade  # noqa: E402
from .updates import polled_subset_updates, sent_whole, updates  # noqa: E402
from .variants import (  # noqa: E402
    SGSet, StringIdGenerationalSet, ValueGenerationalSet, VGSet)
