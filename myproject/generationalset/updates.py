"""The unpaged answers of ``generational_updates``, as the seed gives them.

``self`` is the set answering.
"""
from . import GenerationalSet


def sent_whole(s, generation, current=None, along=False):
    """Must a client at generation get set s whole (``contents``)?

    Yes when it is ahead of the tree's generation ``current`` (the server
    was restored from a backup), or when s, or with ``along`` one of its
    ancestors, joined the tree after generation: the client may hold a
    stale set under its id.  At generation 0 it holds nothing, and plain
    adds are complete.
    """
    if current is not None and generation > current:
        return True
    if generation <= 0:
        return False
    while s is not None:
        if generation < s._joined:
            return True
        if not along:
            return False
        s = s.parent
    return False


def polled_subset_updates(self, generation):
    """generational_updates() of a subset (self) polled on its own.

    The client may hold a stale set under this set's path if it or an
    ancestor joined after generation.
    """
    current = self.root._counter
    result = {"generation": current}
    if sent_whole(self, generation, current, along=True):
        return updates(self, result, 0, True)
    if generation >= self._generation:
        return result  # nothing changed here since
    return updates(self, result, generation, False)


def updates(self, result, generation, whole):
    """Fill result with self's updates for a client at generation; all of
    it as contents when whole."""
    whole = whole or 0 < generation < self._evicted
    if whole:
        values = self.values()
    else:
        removals = self._removals.values(generation + 1)
        if removals:
            result["removals"] = list(removals)
        values = self.values(generation + 1)
    if self._subsets:
        # Member sets stand for their own updates.
        entries = [
            _subset_updates(ob, generation, whole)
            if isinstance(ob, GenerationalSet) else ob
            for ob in values]
    else:
        entries = list(values)
    if whole:
        result["contents"] = entries
    elif entries:
        result["adds"] = entries
    return result


def _subset_updates(s, generation, whole):
    """Return the entry for member set s for a client at generation."""
    result = {"id": s.entry_id}
    if whole or sent_whole(s, generation):
        return updates(s, result, 0, True)
    if generation >= s._generation:
        return result
    return updates(s, result, generation, False)
