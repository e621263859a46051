"""The app's request class and its transactions.

pyramid_tm adds ``tm`` with ``add_request_method(reify=True)``; Pyramid
applies such a property by making a new class for every request, which
costs more than the rest of a poll's routing.  The same property on the
request class costs nothing per request.  ``includeme`` includes
pyramid_tm and replaces the one with the other: an action of the including
configuration wins over the included one's of the same name.

A request's transaction manager is explicit (a connection polls the
storage when the request's transaction begins, not also on opening, after
the commit and on closing: see docs/scaling.txt), and the notes of its
transactions are redacted: pyramid_tm notes the request's path, which
stays in the database's transaction log (the admin dashboard shows it),
and a path may hold a push token (``@@devices/<token>``).
"""
import transaction
from pyramid.decorator import reify
from pyramid.request import Request as PyramidRequest
from pyramid_tm import create_tm

from .redact import redact_path


class Request(PyramidRequest):
    @reify
    def tm(self):
        # A method named tm: reify stores its value under the wrapped
        # function's name.
        return create_tm(self)


class RequestTransactions(transaction.TransactionManager):
    """An explicit manager whose transactions' notes are redacted."""

    def __init__(self):
        super().__init__(explicit=True)

    def begin(self):
        txn = super().begin()
        txn.addBeforeCommitHook(_redact_note, (txn,))
        return txn


def _redact_note(txn):
    txn.description = redact_path(txn.description)


def request_transactions(request):
    """pyramid_tm's ``tm.manager_hook``: a request's transaction manager."""
    return RequestTransactions()


def includeme(config):
    config.registry.settings.setdefault("tm.manager_hook",
                                        request_transactions)
    config.include("pyramid_tm")
    config.add_request_method(None, "tm")  # pyramid_tm's, made void
    config.set_request_factory(Request)
