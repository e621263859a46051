"""Request ids, and with them structured logs as an option.

Every request gets an id: the client's ``X-Request-Id`` when it sent a
sane one (letters, digits, ``.-_:``, at most 128), else one made here (a
random prefix per process and a counter: unique without a system call).
It goes back in the response's ``X-Request-Id`` header and onto every log
record made while the request runs, as ``request_id`` (``-`` outside a
request), so a log format may show it.

JSON logs, one object a line, are python-json-logger's formatter in the
.ini file's logging sections (docs/operations.txt, "Logs");
``development.ini`` keeps the readable format.
"""
import itertools
import logging
import re
import secrets
import threading

from .redact import redact

TWEEN = "myproject.logs.request_id_tween_factory"
HEADER = "X-Request-Id"
ENVIRON_KEY = "myproject.request_id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")

_current = threading.local()
_factory_installed = False
_lock = threading.Lock()


def current_request_id():
    """Return the id of the request this thread serves, or None."""
    return getattr(_current, "request_id", None)


def install_record_factory():
    """Give every log record a ``request_id`` attribute; idempotent."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def record_factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            record.request_id = getattr(_current, "request_id", None) or "-"
            return record

        logging.setLogRecordFactory(record_factory)
        _factory_installed = True


def request_id_tween_factory(handler, registry):
    prefix = secrets.token_hex(4)
    numbers = itertools.count(1)

    def request_id_tween(request):
        environ = request.environ
        rid = environ.get(ENVIRON_KEY)   # a retried attempt keeps its id
        if rid is None:
            sent = environ.get("HTTP_X_REQUEST_ID")
            rid = (sent if sent is not None and _SANE.match(sent)
                   and redact(sent) == sent  # not a token: it is logged
                   else f"{prefix}-{next(numbers)}")
            environ[ENVIRON_KEY] = rid
        _current.request_id = rid
        try:
            response = handler(request)
        finally:
            _current.request_id = None
        response.headers[HEADER] = rid
        return response

    return request_id_tween


def includeme(config):
    from pyramid.tweens import INGRESS
    install_record_factory()
    # Outermost of the app's tweens: every answer names its request (the
    # CORS preflight, the poll's shortcut, a last-resort 500 too), and
    # every line logged while one runs.
    config.add_tween(TWEEN, under=INGRESS,
                     over="myproject.views.errors.last_resort_tween_factory")
