"""Documents: what a user's sets hold besides sets.

A ``Document`` is one JSON object with an ``id``: its owner and the sets
that hold it (the owner's first, then those it was shared into).  The sets
hold ``Copy`` values, the data inline in their buckets.  The owner's edits
and retraction reach every holder in the same transaction;
``release_documents`` prepares a set for removal.

A document only its owner's set holds (most of them) is *private*: its
copy carries no ``Document`` and there is no record of it, so a new
document costs a write one record less, and a page of a sync creates no
ghost per document.  ``Document.of(copy, gset)`` gives the document of a
copy either way; sharing one gives it its record, and its owner's copy
points to it from then on (the same data at the same generation: nothing
for the owner's clients to fetch).
"""
from persistent import Persistent

from .generationalset import GSet


class Document(Persistent):
    """A JSON object with an ``id``, held by one or more sets.

    ``holders`` are the sets the document is in: the owner's first, then
    the sets of users it was shared with.  The owner's edits and retraction
    reach every holder in the same transaction.  It is a tuple in the
    document's own record.

    The data lives in the holders' sets only, as ``Copy`` values: this
    record says who owns the document and who holds it, and an edit does
    not rewrite it.  A private document (its owner's set alone holds it)
    is not stored: ``Document.of`` makes one standing for its copy.
    """

    def __init__(self, data, owner):
        self.id = data["id"]
        self.owner = owner
        self.holders = ()
        self._v_data = data  # until it is placed

    @classmethod
    def of(cls, copy, gset):
        """Return the Document of copy, held by gset: its record, or for a
        private one a Document standing for it (it holds no record until
        it is shared)."""
        if copy.document is not None:
            return copy.document
        document = cls(copy.data, gset.root.id)
        document.holders = (gset,)
        return document

    def _private(self):
        """Is the owner's copy without a record (held by the owner alone)?"""
        return (len(self.holders) == 1
                and self.holders[0][self.id].document is None)

    @property
    def data(self):
        """The document's JSON object: its owner's copy's."""
        if not self.holders:
            return self._v_data
        return self.holders[0][self.id].data

    def place(self, s, data=None):
        """Add the document to set s (with data, or its current data)."""
        data = self.data if data is None else data
        if not self.holders:  # its owner's set: private
            s.add(Copy(None, data), self.id)
            self.holders = (s,)
            return
        if s in self.holders:
            return
        if self._private():  # shared now: the owner's copy points here
            owner_set = self.holders[0]
            owner_set.replace_unchanged(
                Copy(self, owner_set[self.id].data), self.id)
        s.add(Copy(self, data), self.id)
        self.holders = (*self.holders, s)

    def unplace(self, s):
        """Remove the document from set s."""
        s.remove(self, self.id)
        self.holders = tuple(h for h in self.holders if h is not s)

    def replace(self, data):
        """Set new data; every holder records the change."""
        copy = Copy(None if self._private() else self, data)
        for s in self.holders:
            s.changed(copy, self.id)

    def retract(self):
        """Remove the document from every holder."""
        for s in list(self.holders):
            self.unplace(s)


class Copy:
    """A document as a set holds it: its data, kept inline in the set's
    bucket, and the ``Document`` it is a copy of (None: a private one).

    A poll reads the data of a page's documents from a few buckets, not a
    record per document (a ``Document`` stays a ghost); everything else
    (owner, holders, edits) goes to the document (``Document.of``).
    Copies are values: ``Document.replace`` gives every holder a new one.
    """

    __slots__ = ("document", "data")

    def __init__(self, document, data):
        self.document = document
        self.data = data

    def __reduce__(self):
        return Copy, (self.document, self.data)

    @property
    def id(self):
        return self.data["id"]


def release_documents(gset):
    """Prepare a set (and its subsets) for removal from its tree.

    Documents it holds as their owner's set leave every other holder's tree;
    documents shared into it stop counting it as a holder.
    """
    for ob in list(gset):
        if isinstance(ob, GSet):
            release_documents(ob)
            continue
        ob = ob.document
        if ob is None:
            continue  # private: it goes with the set
        if ob.holders and ob.holders[0] is gset:
            for holder in list(ob.holders[1:]):
                ob.unplace(holder)
        elif gset in ob.holders:
            ob.holders = tuple(h for h in ob.holders if h is not gset)
