"""Pages of generational updates: ``generational_updates(g, limit=N)``.

Every change in a tree has a generation of its own, so the changes after a
client's generation ``g`` form one sequence, merged in generation order
from the sets of the tree: member changes (``_contents``), removals
(``_removals``), and a set's own entry where no change inside it carries
its generation (an empty set that joined).  A page takes the first of
them, at most ``limit`` members counting every document, removed id and
set entry (but the first change is always taken, with the entries of the
sets above it the client lacks, however many: a page must make progress),
and stops just before the next one, at generation ``g2``: it is
exactly the changes in (g, g2], and ``g2`` is the cursor the client stores.
The client may stop after any page and resume from ``g2`` later, however
the tree changed meanwhile: whatever changed after ``g2`` is still to
come, whatever the page held that changed again comes again.

A set the client holds stale (it forgot removals the client needs, or it
joined after ``g``, or the client is ahead of the tree) is sent with
``contents``, which replace what the client holds.  The set keeps every
event of its subtree newer than the reason it is stale (``_forgotten``,
``_joined``: see the package's layout notes), so the client holds nothing
of it that would have to be sent again: its ``contents`` are just its
changes in the window.  Its entry comes with its first change, or at the
reason's generation (a *reset*) if that comes first, so that no cursor
passes the reason without the client having replaced the stale set.

One page reads O(limit + sets) entries of the BTrees, O(log n) each, and
holds only the page: it never lists a set's members.
"""
import heapq
import itertools

# Kinds of events, in the order they sort when they share a generation (a
# reset at a stale set's reason may share it with the set's first change).
_RESET, _ADD, _REMOVE, _PRESENT = 0, 1, 1, 1
_KIND_ADD, _KIND_REMOVE, _KIND_PRESENT, _KIND_RESET = "a", "r", "p", "x"


def page(start, generation, limit):
    """Return one page of start's updates for a client at generation."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError("limit must be a positive integer, got %r" % (limit,))
    root = start.root
    current = root._counter
    is_root = start is root
    if is_root and generation == current:
        return {"generation": current}  # up to date: the fast path
    ahead = generation > current
    cursor = 0 if ahead else generation
    whole = ahead or _stale(start, cursor, along=not is_root) is not None
    if not whole and not is_root and cursor >= start._generation:
        return {"generation": current}  # nothing changed here since
    walk = _Walk(cursor)
    top = _Entry(start, whole)
    events = walk.stream(start, whole, ())
    taken = 0
    end, more = current, False
    entries, last_chain, entry = walk.entries, None, top
    for generation_, _, _, kind, chain, payload in events:
        counted = kind is _KIND_ADD or kind is _KIND_REMOVE
        if chain is last_chain:  # the common case: the set of the last one
            new = ()
        else:
            new = [s for s in chain if id(s) not in entries]
        cost = len(new) + counted
        if taken and taken + cost > limit and generation_ - 1 > cursor:
            end, more = generation_ - 1, True
            break
        if generation_ > cursor:  # else: kept from before this layout
            taken += cost
        if chain is not last_chain:
            entry = top
            for s in chain:
                child = entries.get(id(s))
                if child is None:
                    child = entries[id(s)] = _Entry(s, walk.whole[id(s)])
                    entry.items.append(child)
                entry = child
            last_chain = chain
        if kind is _KIND_ADD:
            entry.items.append(payload)
        elif kind is _KIND_REMOVE:
            entry.removals.append(payload)
    result = top.assemble({"generation": end})
    if more:
        result["more"] = True
    return result


def _stale(s, cursor, along=False):
    """Return the generation that makes the client's copy of s stale, or
    None: a removal it forgot, or a joining (of s, or of an ancestor when
    ``along``), after the client's cursor."""
    if cursor <= 0:
        return None  # the client holds nothing
    reason = None
    forgotten = s.forgotten
    if cursor < forgotten:
        reason = forgotten
    t = s
    while t is not None:
        if cursor < t._joined and (reason is None or t._joined > reason):
            reason = t._joined
        if not along:
            break
        t = t.parent
    return reason


def _has_keys(tree, low):
    """Has the BTree a key at or above low (any key, low None)?"""
    if low is None:
        return bool(tree)
    try:
        tree.minKey(low)
    except ValueError:
        return False
    return True


class _Walk:
    """The merged event streams of one page."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.entries = {}   # id(set) -> _Entry in this page
        self.whole = {}     # id(set) -> sent with contents
        self.seq = itertools.count()

    def stream(self, s, whole, chain):
        """Yield the events of s's subtree after the cursor, in order:
        (generation, order, seq, kind, chain, payload)."""
        cursor, seq = self.cursor, self.seq
        subsets = s._subsets
        # A stale set gets all its members: none of them is older than the
        # cursor (see the package's layout notes), so this costs nothing.
        low = None if whole else cursor + 1
        # Only the streams that have something: merging costs per event,
        # and a poll's changes are mostly in one set.
        streams = []
        if _has_keys(s._contents, low):
            streams.append((g, _ADD, next(seq), _KIND_ADD, chain, ob)
                           for g, ob in s._contents.items(low))
        if not whole and cursor > 0 and _has_keys(s._removals, cursor + 1):
            streams.append(
                (g, _REMOVE, next(seq), _KIND_REMOVE, chain, id)
                for g, id in s._removals.items(cursor + 1))
        for t in subsets.values():
            if t._generation <= cursor:
                continue  # nothing in it changed since
            path = chain + (t,)
            t_whole = whole
            if not whole:
                reason = _stale(t, cursor)
                if reason is not None:
                    t_whole = True
                    streams.append(iter([(reason, _RESET, next(seq),
                                          _KIND_RESET, path, None)]))
            self.whole[id(t)] = t_whole
            streams.append(self._subset_stream(t, t_whole, path))
        if len(streams) == 1:
            return streams[0]
        if not streams:
            return iter(())
        return heapq.merge(*streams)

    def _subset_stream(self, t, whole, path):
        last = None
        for event in self.stream(t, whole, path):
            last = event[0]
            yield event
        key = t._generation
        if last != key:  # t's latest change is its joining (or unsent)
            yield (key, _PRESENT, next(self.seq), _KIND_PRESENT, path, None)


class _Entry:
    """What one page says about one set."""

    __slots__ = ("set", "whole", "removals", "items")

    def __init__(self, s, whole):
        self.set = s
        self.whole = whole
        self.removals = []
        self.items = []     # members, and the _Entry of member sets

    def assemble(self, result):
        items = [
            item.assemble({"id": item.set.entry_id})
            if isinstance(item, _Entry) else item
            for item in self.items]
        if self.whole:
            result["contents"] = items
        else:
            if self.removals:
                result["removals"] = self.removals
            if items:
                result["adds"] = items
        return result
