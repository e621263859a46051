"""Which generational-set trees changed in a transaction.

``generationalset.notify(root)`` is called on every generation bump.
``install()`` points it at ``tracker.record``, which remembers the root in
the data of the transaction that made the change: each thread has its own
transaction, so no lock is needed and threads never see each other's roots.
The first record in a transaction registers an after-commit hook; after a
*successful* commit it calls every subscriber with the changed roots.  An
aborted transaction (a ConflictError retried by pyramid_retry, an error
response) calls nobody.

A root's first record in a transaction also notes the generation its tree
had before the transaction, as ``root._v_generation_before`` (notify comes
after a bump of one; a renumbering ``upgrade`` may bump more): subscribers
that need where a change started (the live publisher: the clients held at
that generation) read it there.
"""
import logging
import threading

import transaction

from . import generationalset

log = logging.getLogger(__name__)


class ChangeTracker:
    """Records changed root sets per transaction; tells subscribers after commit."""

    def __init__(self):
        self._subscribers = ()
        self._lock = threading.Lock()

    def subscribe(self, callback):
        """Call callback(roots) after each successful commit that changed roots."""
        with self._lock:
            self._subscribers += (callback,)

    def unsubscribe(self, callback):
        """Stop calling callback; a no-op if it is not subscribed."""
        with self._lock:
            self._subscribers = tuple(
                s for s in self._subscribers if s is not callback)

    def record(self, root):
        """Remember that root changed in the current transaction."""
        txn = _transaction_of(root)
        try:
            roots = txn.data(self)
        except KeyError:
            roots = {}
            txn.set_data(self, roots)
            txn.addAfterCommitHook(self._after_commit, (roots,))
        if id(root) not in roots:
            root._v_generation_before = root.generation - 1
        roots[id(root)] = root

    def changed_roots(self, txn=None):
        """Return the roots changed so far in txn (default: the current one)."""
        txn = transaction.get() if txn is None else txn
        try:
            return list(txn.data(self).values())
        except KeyError:
            return []

    def _after_commit(self, status, roots):
        if not status:
            return
        changed = list(roots.values())
        for subscriber in self._subscribers:
            try:
                subscriber(changed)
            except Exception:
                log.exception("change subscriber %r failed", subscriber)


def _transaction_of(root):
    jar = getattr(root, "_p_jar", None)
    if jar is not None:
        return jar.transaction_manager.get()
    return transaction.get()


tracker = ChangeTracker()


def install():
    """Make ``generationalset.notify`` record into ``tracker``; idempotent."""
    generationalset.notify = tracker.record
