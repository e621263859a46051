"""How a set is stored: its record's state, and the removal trees of a set
that never removed a member (docs/library.txt, "Stored layout").

A set's record is rewritten on every change in its subtree, so its state
is pickled as a tuple of values in the order of ``STATE``, without the
attribute names (about half the bytes); then a dict of any other
attributes (a subclass's), if there are any.  None stands for an attribute
of ``OPTIONAL`` left to its class default.  A record of an earlier layout
(a dict) loads as it is, and is written as a tuple at its next change.
"""

STATE = ("id", "parent", "_contents", "_generations", "_subsets", "_len",
         "_counter", "_generation", "_joined", "_parent_id", "_removals",
         "_removed", "_remembered", "_forgotten", "_evicted", "_kept",
         "maximum_removals", "id_attribute")
_STATE_NAMES = frozenset(STATE)
OPTIONAL = frozenset(("_counter", "_generation", "_joined", "_parent_id",
                      "_removals", "_removed", "_evicted", "_kept"))


def pickled(attributes):
    """Return the state to pickle for a set's ``__dict__``."""
    values = tuple(map(attributes.get, STATE))
    extra = {name: value for name, value in attributes.items()
             if name not in _STATE_NAMES
             and not name.startswith(("_v_", "_p_"))}
    return values + (extra,) if extra else values


def named(state):
    """Return a set's ``__dict__`` from a pickled state (tuple or dict)."""
    if not isinstance(state, tuple):
        return state
    attributes = {name: value for name, value in zip(STATE, state)
                  if value is not None or name not in OPTIONAL}
    if len(state) > len(STATE):
        attributes.update(state[len(STATE)])
    return attributes


class NoRemovals:
    """The ``_removals`` and ``_removed`` of a set that never removed a
    member: empty, read-only, shared by the class.  ``remove`` gives a set
    BTrees of its own, so a set without removals stores two records and two
    references fewer."""

    __slots__ = ()

    def __bool__(self):
        return False

    def __len__(self):
        return 0

    def __contains__(self, key):
        return False

    def __iter__(self):
        return iter(())

    def keys(self, *args, **kw):
        return ()  # as a BTree's, an empty sequence

    values = items = keys

    def get(self, key, default=None):
        return default

    def minKey(self, *args):
        raise ValueError("empty tree")

    maxKey = minKey


NO_REMOVALS = NoRemovals()
