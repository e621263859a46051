"""Generational sets: ZODB sets that report what changed since a generation.

A tree of sets shares one integer generation, kept by the root set, that
grows by one on every change anywhere in the tree.  A client presents the
generation of the state it holds and ``generational_updates`` tells it what
to drop and what to upsert to hold the current state.  See README.txt.

This module knows nothing of the rest of the package: it depends on
``persistent`` and ``BTrees`` only.

Storage layout of one set (each BTree a separate persistent object, so a
change rewrites O(log n) records, never the whole set):

``_contents``     LOBTree  {generation of the member's latest change: member}
                           (a ``ContentsBTree``, with smaller nodes)
``_generations``  OLBTree  {id: generation of the member's latest change}
                           (a ``GenerationsBTree``, with smaller nodes)
``_removals``     LOBTree  {generation of a removal: id}, the latest
                           ``maximum_removals`` removals of ids that are
                           not members again
``_removed``      OLBTree  the same removals by id: {id: generation}
``_evicted``      int      the latest generation of a removal that was
                           forgotten; a client older than it gets ``contents``
``_len``          int      the member count (the set's own record is
                           rewritten on every change anyway, so a plain
                           attribute costs nothing where a ``BTrees.Length``
                           would add a record to every commit)
``_joined``       int      for a subset: the generation at which it last
                           joined its parent; a client older than that may
                           hold a stale set under this id and gets it whole

and, for the generation (the public ``generation`` reads whichever applies):

``_counter``      int      on a root set only: the tree's generation
``_generation``   int      on a subset only: the generation of its latest
                           change

A subset has no ``_counter`` of its own and reads the class's ``_SUBSET``
marker instead, so one attribute read tells a root's generation from a
subset: the up-to-date poll of a root, the commonest call, needs no more.
"""
import BTrees.LOBTree
import BTrees.OLBTree
import persistent

__all__ = [
    "GenerationalSet", "GSet",
    "StringIdGenerationalSet", "SGSet",
    "ValueGenerationalSet", "VGSet",
    "notify",
]


# The two big BTrees of a set have smaller nodes than BTrees' defaults (60
# items a bucket, 500 or 250 children an interior node).  A change rewrites
# whole nodes: the bucket of a changed member (with every member in it,
# when members are not persistent) and of its id, and, when a bucket splits
# or empties, its interior node.  Changes in a sync set land at random
# places (any member may change), so smaller nodes mean less to pickle and
# write at each commit: see README.txt, "Benchmarks".  The price is more,
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

    def __init__(self, id=None, parent=None, maximum_removals=99,
                 superset=False, id_attribute="id"):
        # superset is accepted and ignored, as since the seed's 0.2.0.
        self.id = id
        self.parent = parent
        self.maximum_removals = maximum_removals
        self.id_attribute = id_attribute
        self._contents = ContentsBTree()
        self._generations = GenerationsBTree()
        self._removals = BTrees.LOBTree.LOBTree()
        self._removed = BTrees.OLBTree.OLBTree()
        self._len = 0
        if parent is None:
            self._counter = 1
        else:
            self._generation = parent.generation

    @property
    def generation(self):
        """The tree's generation for a root set; for a subset, the
        generation of its latest change (that of its last joining, or the
        one it was made with, if it never changed since)."""
        counter = self._counter
        return self._generation if counter is _SUBSET else counter

    def __repr__(self):
        return "<%s %r at generation %s>" % (
            self.__class__.__name__, self.id, self.generation)

    # Ids

    def get_id(self, ob):
        """Return the id of ob (its ``id_attribute``); override to change."""
        return getattr(ob, self.id_attribute)

    # The tree

    @property
    def root(self):
        """The top-level set of the tree this set belongs to (itself for a root)."""
        s = self
        while s.parent is not None:
            s = s.parent
        return s

    def _updated(self):
        """Bump the tree's generation for a change in self; return it."""
        counter = self._counter
        if counter is not _SUBSET:
            self._counter = generation = counter + 1
            notify(self)
        else:
            parent = self.parent
            parent.add(self, self.id)
            self._generation = generation = parent.generation
        return generation

    def _adopt(self, ob):
        """Make ob, a set joining self, part of this tree.

        A set with its own history (built elsewhere) may have counted past
        this tree's generation; the tree's generation then jumps past it, so
        that every generation recorded in ob is older than its joining.
        """
        if ob.parent is None:
            ob.parent = self
        elif ob.parent is not self:
            raise ValueError(
                "%r belongs to another set; remove it there first" % (ob,))
        generation = ob.generation
        if ob._counter is not _SUBSET:  # a root until now
            del ob._counter
            ob._generation = generation
        root = self.root
        if generation > root._counter:
            root._counter = generation

    # Changes

    def add(self, ob, id=None):
        """Add ob, or record a change to the member with its id."""
        if id is None:
            id = self.get_id(ob)
        counter = self._counter
        if counter is _SUBSET or isinstance(ob, GenerationalSet):
            self._put(ob, id, self._generations.get(id))
            return
        # A plain member of a root set, the common case: one descent of
        # _generations records a new id (and tells whether it was new).
        generation = counter + 1
        generations = self._generations
        if not generations.insert(id, generation):
            self._put(ob, id, generations[id])  # a change to a member
            return
        # A new member: the steps of _put() that apply, without the call.
        self._contents[generation] = ob
        self._len += 1
        removed = self._removed
        if id in removed:  # re-added: no longer a removal
            del self._removals[removed.pop(id)]
        self._counter = generation
        notify(self)

    def changed(self, ob, id=None):
        """Record a change to ob; raise KeyError(id) if it is not a member."""
        if id is None:
            id = self.get_id(ob)
        old = self._generations.get(id)
        if old is None:
            raise KeyError(id)
        self._put(ob, id, old)

    def _put(self, ob, id, old):
        """Make ob the member with this id; old is the generation of the
        member it replaces, or None."""
        contents = self._contents
        if old is not None:
            joining = contents.pop(old) is not ob
        else:
            joining = True
            self._len += 1
            removed = self._removed
            if id in removed:  # re-added: no longer a removal
                del self._removals[removed.pop(id)]
        is_set = joining and isinstance(ob, GenerationalSet)
        if is_set:
            self._adopt(ob)
        generation = self._updated()
        contents[generation] = ob
        self._generations[id] = generation
        if is_set:
            ob._joined = ob._generation = generation

    def remove(self, ob, id=None):
        """Remove the member with ob's id; raise KeyError(id) if absent."""
        if id is None:
            id = self.get_id(ob)
        old = self._generations.pop(id, None)
        if old is None:
            raise KeyError(id)
        del self._contents[old]
        self._len -= 1
        generation = self._updated()
        removals, removed = self._removals, self._removed
        removals[generation] = id
        removed[id] = generation
        maximum = self.maximum_removals
        if len(removals) > maximum:
            while True:
                evicted = removals.minKey()
                del removed[removals.pop(evicted)]
                if len(removals) <= maximum:
                    break
            self._evicted = evicted

    # Reading

    def _has(self, id):
        return id in self._generations

    def __getitem__(self, id):
        """Return the member with this id; raise KeyError if absent."""
        return self._contents[self._generations[id]]

    def get(self, id, default=None):
        """Return the member with this id, or default."""
        generation = self._generations.get(id)
        if generation is None:
            return default
        return self._contents[generation]

    def __len__(self):
        """Return the number of members (O(1))."""
        return self._len

    def __iter__(self):
        """Iterate over the members, oldest change first."""
        return iter(self._contents.values())

    def items(self):
        """Iterate over (id, member) pairs in id order."""
        contents = self._contents
        for id, generation in self._generations.items():
            yield id, contents[generation]

    def values(self, min_generation=None):
        """Return the members changed at or after min_generation, oldest first."""
        return self._contents.values(min_generation)

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

    def generational_updates(self, generation, subset=False):
        """Return what a client at generation must apply to mirror this set.

        ``{'generation': G, 'removals': [...], 'adds': [...]}`` with empty
        lists left out, or ``'contents'`` instead of removals and adds when
        the client is older than the removals this set remembers, or newer
        than the tree (the server was restored from a backup).  G is the
        tree's generation.  Called for a member set by its parent (``subset``
        true), ``{'id': ID, ...}`` takes the place of the generation.
        """
        current = self._counter
        if generation == current and not subset:
            return {"generation": current}  # a root, up to date: the fast path
        if subset:
            if current is _SUBSET:
                current = self._generation
            result = {"id": self.id}
        elif current is _SUBSET:
            return self._polled_subset_updates(generation)
        else:
            result = {"generation": current}
            if generation > current or 0 < generation < self._joined:
                # Restored from a backup, or joined a tree after generation:
                # send it whole.
                return self._updates(result, 0, True)
        if generation >= current:
            return result  # nothing changed here since
        return self._updates(result, generation, False)

    def _polled_subset_updates(self, generation):
        """generational_updates() of a subset polled on its own.

        The client may hold a stale set under this set's path if it or an
        ancestor joined after generation.
        """
        joined, s = self._joined, self
        while s.parent is not None:
            s = s.parent
            joined = max(joined, s._joined)
        current = s._counter
        result = {"generation": current}
        if generation > current or 0 < generation < joined:
            # Restored from a backup, or a stale subtree: send it whole.
            return self._updates(result, 0, True)
        if generation >= self._generation:
            return result  # nothing changed here since
        return self._updates(result, generation, False)

    def _updates(self, result, generation, whole):
        whole = whole or 0 < generation < self._evicted
        if whole:
            values = self._contents.values()
        else:
            removals = self._removals.values(generation + 1)
            if removals:
                result["removals"] = list(removals)
            values = self._contents.values(generation + 1)
        entries = list(values)
        for ob in entries:
            if isinstance(ob, GenerationalSet):
                # Member sets stand for their own updates (a second pass
                # only when there is one: plain members are the usual case).
                entries = [
                    _subset_updates(ob, generation, whole)
                    if isinstance(ob, GenerationalSet) else ob
                    for ob in entries
                ]
                break
        if whole:
            result["contents"] = entries
        elif entries:
            result["adds"] = entries
        return result


def _subset_updates(s, generation, whole):
    """Return the entry for member set s for a client at generation."""
    result = {"id": s.id}
    if whole or 0 < generation < s._joined:
        # The client holds nothing under this id, or a stale set: send it
        # whole.  (At generation 0 plain adds are complete already.)
        return s._updates(result, 0, True)
    if generation >= s._generation:
        return result
    return s._updates(result, generation, False)


GSet = GenerationalSet


class StringIdGenerationalSet(GenerationalSet):
    """A set in which ids are stringified (helps with long integer ids)."""

    def get_id(self, ob):
        """Return str() of ob's id attribute."""
        return str(super().get_id(ob))


SGSet = StringIdGenerationalSet


class ValueGenerationalSet(GenerationalSet):
    """A set in which items are their own ids; they must be orderable."""

    def get_id(self, ob):
        """Return ob itself."""
        return ob


VGSet = ValueGenerationalSet
