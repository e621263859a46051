"""Generational sets: ZODB sets that report what changed since a generation.

A tree of sets shares one integer generation, kept by the root set, that
grows by one on every change anywhere in the tree.  A client presents the
generation of the state it holds and ``generational_updates`` tells it what
to drop and what to upsert to hold the current state; with a ``limit`` it
tells it in pages (``paging.py``).  See docs/library.txt.

This package knows nothing of the rest of ``myproject``: it depends on
``persistent`` and ``BTrees`` only.

Storage layout of one set (each BTree a separate persistent object, so a
change rewrites O(log n) records, never the whole set):

``_contents``     LOBTree  {generation of the member's latest change: member}
                           (a ``ContentsBTree``, with smaller nodes)
``_generations``  OLBTree  {id: generation of the member's latest change}
                           (a ``GenerationsBTree``, with smaller nodes)
``_removals``     LOBTree  {generation of a removal: id} of ids that are not
                           members again: the latest ``maximum_removals``
                           (the *remembered* ones), and older ones while a
                           member of the set's subtree is older than them
                           (the *kept* ones, for paged clients, see below)
``_removed``      OLBTree  the same removals by id: {id: generation}
``_remembered``   int      how many of them are remembered
``_kept``         int      how many are kept (all at or below ``_evicted``)
``_evicted``      int      the latest generation of a removal that is no
                           longer remembered; an unpaged client older than
                           it gets ``contents``
``_forgotten``    int      the latest generation of a removal no longer
                           kept either; a paged client older than it gets
                           ``contents``.  It is always older than every
                           event of the set's subtree, so such a client
                           holds nothing of the set that it must be sent
                           again: that is what keeps every page small.
``_len``          int      the member count (the set's own record is
                           rewritten on every change anyway, so a plain
                           attribute costs nothing where a ``BTrees.Length``
                           would add a record to every commit)
``_subsets``      dict     {id: member set}: the few member sets, so pages
                           find them without scanning the members
``_joined``       int      for a subset: the first generation of its latest
                           joining; a client older than that may hold a
                           stale set under this id and gets it whole

and, for the generation (the public ``generation`` reads whichever applies):

``_counter``      int      on a root set only: the tree's generation
``_generation``   int      on a subset only: the generation of its latest
                           change (its key in its parent)

A subset has no ``_counter`` of its own and reads the class's ``_SUBSET``
marker instead, so one attribute read tells a root's generation from a
subset: the up-to-date poll of a root, the commonest call, needs no more.

A set that joins a tree with members (built elsewhere, or moved from
another set) has them renumbered into fresh generations of the tree, in
their order: every event of a tree then has its own generation, and a
joined set's events all come after its joining starts.
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
    # Sets stored before these attributes existed: worked out on first use.
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
        self._removals = BTrees.LOBTree.LOBTree()
        self._removed = BTrees.OLBTree.OLBTree()
        self._len = 0
        self._remembered = 0
        self._forgotten = 0
        self._subsets = {}
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
        if ob._contents:
            root._counter = _renumber(ob, start - 1, start)
        return start

    def _member_sets(self):
        """Return {id: member set}; work it out for a set stored without it."""
        subsets = self._subsets
        if subsets is None:
            subsets = self.__dict__.get("_v_subsets")
            if subsets is None:
                subsets = self._v_subsets = {
                    id: ob for id, ob in self.items()
                    if isinstance(ob, GenerationalSet)}
        return subsets

    def _set_member_sets(self, subsets):
        self._subsets = subsets
        self.__dict__.pop("_v_subsets", None)

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
        if id in self._removed:
            self._unremove(id)
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
            previous = contents.pop(old)
            joining = previous is not ob
            if joining and isinstance(previous, GenerationalSet):
                _detach(previous)
                subsets = dict(self._member_sets())
                del subsets[id]
                self._set_member_sets(subsets)
        else:
            joining = True
            self._len += 1
            if id in self._removed:
                self._unremove(id)
        is_set = joining and isinstance(ob, GenerationalSet)
        if is_set:
            start = self._adopt(ob, id)
            self._set_member_sets({**self._member_sets(), id: ob})
        generation = self._updated()
        contents[generation] = ob
        self._generations[id] = generation
        if is_set:
            ob._joined = start
            ob._generation = generation
        if self._kept:
            self._forget()

    def remove(self, ob, id=None):
        """Remove the member with ob's id; raise KeyError(id) if absent."""
        if id is None:
            id = self.get_id(ob)
        old = self._generations.pop(id, None)
        if old is None:
            raise KeyError(id)
        member = self._contents.pop(old)
        self._len -= 1
        if isinstance(member, GenerationalSet):
            subsets = dict(self._member_sets())
            del subsets[id]
            self._set_member_sets(subsets)
        generation = self._updated()
        if isinstance(member, GenerationalSet):
            _detach(member)
        self._removals[generation] = id
        self._removed[id] = generation
        remembered = self._count_remembered() + 1
        maximum = self.maximum_removals
        if remembered > maximum:
            if self._forgotten is None:  # stored before removals were kept
                self._forgotten = self._evicted
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

    def _count_remembered(self):
        remembered = self._remembered
        if remembered is None:  # stored before the count: all remembered
            remembered = len(self._removals)
        return remembered

    def _unremove(self, id):
        """Drop the removal of id, which is a member again."""
        remembered = self._count_remembered()
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
        forgotten = self._forgotten
        return self._evicted if forgotten is None else forgotten

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
    result = {"id": s.entry_id}
    if whole or 0 < generation < s._joined:
        # The client holds nothing under this id, or a stale set: send it
        # whole.  (At generation 0 plain adds are complete already.)
        return s._updates(result, 0, True)
    if generation >= s._generation:
        return result
    return s._updates(result, generation, False)


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
    for subset in s._member_sets().values():
        oldest = min(oldest, _oldest_event(subset))
    return oldest


def _renumber(s, last, start):
    """Give the members of s (and of its subsets) fresh generations after
    last, in their order; return the last generation given.

    s is joining a tree at generation ``start``: its removals no longer
    matter (a client older than ``start`` gets it whole).
    """
    ids = {generation: id for id, generation in s._generations.items()}
    contents, generations = ContentsBTree(), GenerationsBTree()
    for old, ob in s._contents.items():
        if isinstance(ob, GenerationalSet):
            if ob._contents:
                last = _renumber(ob, last, start)  # its key: its last event
            else:
                last += 1
            ob._generation = last
            ob._joined = start
        else:
            last += 1
        contents[last] = ob
        generations[ids[old]] = last
    s._contents, s._generations = contents, generations
    s._removals = BTrees.LOBTree.LOBTree()
    s._removed = BTrees.OLBTree.OLBTree()
    s._evicted = s._forgotten = s._kept = s._remembered = 0
    return last


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
