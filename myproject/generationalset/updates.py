"""The unpaged answers of ``generational_updates``, as the seed gives them.

``self`` is the set answering.
"""
from . import GenerationalSet


def polled_subset_updates(self, generation):
    """generational_updates() of a subset (self) polled on its own.

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
    if whole or 0 < generation < s._joined:
        # The client holds nothing under this id, or a stale set: send it
        # whole.  (At generation 0 plain adds are complete already.)
        return updates(s, result, 0, True)
    if generation >= s._generation:
        return result
    return updates(s, result, generation, False)
