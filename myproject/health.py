"""Probes for load balancers and orchestrators.

``GET /__lbheartbeat__`` answers 200 ``{}`` while the process serves: it
touches nothing else (a load balancer's "is it up").

``GET /__heartbeat__`` answers one entry per dependency, each with ``ok``:

- ``database``: a real read through the configured storage (a new
  connection, which on RelStorage polls the database, and a load of the
  root object from the storage itself, past every cache);
- ``push.<platform>`` for each platform: the sender that serves it
  (``apns``, ``fcm``, ``log`` or none) and its last attempt's outcome; not
  ok when that attempt got no answer from the service at all (a timeout,
  a refused connection), the sign that the service is out of reach;
- ``dispatcher``: the push dispatcher's thread is alive and accepting, and
  its queue depth.

200 when every entry is ok, 503 when one is not.  Both need no
credentials and show no secret (no token, key or URI).  They are routes
with a root factory of their own, so the database is not opened for
``/__lbheartbeat__`` and a database that is down still gets its 503 from
``/__heartbeat__``, not an error of the root factory.
"""
import datetime
import logging

from pyramid.security import NO_PERMISSION_REQUIRED
from ZODB.utils import z64

from .push.sender import PLATFORMS, Outcome
from .resources import reading, zodb_databases

log = logging.getLogger(__name__)


def check_database(db):
    """Return the database's entry: a real read through its storage."""
    try:
        with reading(db) as conn:
            conn.root()
            # Past the connection's and the storage's caches where it can:
            # RelStorage's load goes to the database after the poll above.
            conn._storage.load(z64)
    except Exception as exc:
        log.warning("heartbeat: the database failed: %s: %s",
                    exc.__class__.__name__, str(exc).strip()[:200])
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def check_sender(platform, sender, last):
    """Return the entry of one platform's push sender (``last``: the
    ``(Result, time)`` of its last attempt, or None)."""
    entry = {"ok": True, "sender": getattr(sender, "name", None)}
    if last is None:
        entry["last"] = None
        return entry
    result, when = last
    entry["last"] = {
        "outcome": result.outcome.value,
        "status": result.status,
        "reason": result.reason,
        "at": datetime.datetime.fromtimestamp(
            when, datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    entry["ok"] = result.outcome is Outcome.SENT or result.status is not None
    return entry


def heartbeat(registry):
    """Return (all ok, {dependency: entry})."""
    entries = {}
    for name, db in sorted(zodb_databases(registry).items()):
        entries["database" + (f".{name}" if name else "")] = check_database(db)
    dispatcher = getattr(registry, "push_dispatcher", None)
    if dispatcher is not None:
        senders = dispatcher.senders
        last = dispatcher.last_results()
        for platform in PLATFORMS:
            entries[f"push.{platform}"] = check_sender(
                platform, senders.get(platform), last.get(platform))
        entries["dispatcher"] = {
            "ok": dispatcher.alive(),
            "queue_depth": dispatcher.stats()["queue_depth"]}
    return all(entry["ok"] for entry in entries.values()), entries


def lbheartbeat_view(request):
    return {}


def heartbeat_view(request):
    ok, entries = heartbeat(request.registry)
    if not ok:
        request.response.status = 503
    request.response.headers["Cache-Control"] = "no-store"
    return entries


def _no_root(request):
    """The probes' root: no database connection."""
    return None


def includeme(config):
    config.add_route("lbheartbeat", "/__lbheartbeat__", factory=_no_root)
    config.add_route("heartbeat", "/__heartbeat__", factory=_no_root)
    config.add_view(lbheartbeat_view, route_name="lbheartbeat",
                    request_method=("GET", "HEAD"), renderer="json",
                    permission=NO_PERMISSION_REQUIRED)
    config.add_view(heartbeat_view, route_name="heartbeat",
                    request_method=("GET", "HEAD"), renderer="json",
                    permission=NO_PERMISSION_REQUIRED)
