"""The seed's two variants of the set: other ids for the same structure.

Sets stored before this module existed name their class in
``myproject.generationalset``, which imports these: both paths load.
"""
from . import GenerationalSet


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
