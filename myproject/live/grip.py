"""Held polls through Pushpin: GRIP instructions and publishing.

Behind Pushpin (``myproject.live.grip = true``) a poll with ``wait`` that
finds its client up to date at generation G is answered at once, with the
up-to-date answer as the body and the instructions for Pushpin to hold it::

    Grip-Hold: response
    Grip-Channel: gsync.<user id>.<G>
    Grip-Timeout: <wait>

Pushpin keeps the connection (no thread of the app is taken) and sends
that body when the timeout runs out.  The channel names the user *and*
the generation its client holds, so that every client on a channel needs
the very same updates: after a commit took the user's tree from G to G',
the ``Publisher`` publishes the updates since G (one page, with ``more``
when the client must ask again) to channel ``gsync.<user id>.<G>``, and
every client held there gets exactly what it must apply.  A client held at
an older generation (its hold reached Pushpin just after a publish) is not
on that channel: it gets its timeout answer, polls again and gets its
updates then; it never gets an answer meant for another generation.

The ``Publisher`` runs in a thread of its own: the after-commit hook only
queues ``(user id, G, G')`` (never blocking; a full queue drops and
counts), and the thread reads the updates on a connection of its own and
POSTs them to Pushpin's ``/publish/`` endpoint (its HTTP control port,
``myproject.live.publish_url``).  Failures are counted and logged, never
raised.  Each app process publishes its own commits, so several processes
behind one Pushpin all reach the clients it holds.
"""
import json
import logging
import queue
import threading
import urllib.error
import urllib.parse
import urllib.request

from .. import sync
from ..resources import APP_ROOT_NAME, reading

log = logging.getLogger(__name__)

#: Held polls each POST to Pushpin may answer, at most.
BATCH = 100


def channel(user_id, generation):
    """Return the GRIP channel of user's clients held at generation."""
    return f"gsync.{urllib.parse.quote(user_id, safe='')}.{generation}"


def hold(response, user_id, generation, timeout):
    """Add the instructions holding response until a publish or timeout."""
    response.headers["Grip-Hold"] = "response"
    response.headers["Grip-Channel"] = channel(user_id, generation)
    response.headers["Grip-Timeout"] = str(timeout)


class Publisher:
    """Publishes held polls' answers to Pushpin from a thread of its own."""

    def __init__(self, db, publish_url, *, page_size, queue_size=10000,
                 timeout=5.0):
        self.db = db
        self.url = publish_url.rstrip("/") + "/publish/"
        self.page_size = page_size
        self.timeout = timeout
        self.published = 0  # channels published to
        self.failed = 0     # channels whose publish failed
        self.dropped = 0    # changes not queued: the queue was full
        self._queue = queue.Queue(queue_size)
        self._thread = None

    def submit(self, user_id, before, after):
        """Queue a publish for user's clients held at before (never blocks)."""
        if before >= after:
            return
        try:
            self._queue.put_nowait((user_id, before))
        except queue.Full:
            self.dropped += 1
            log.warning("live publish queue full: dropped %s@%s", user_id,
                        before)

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="live-publisher", daemon=True)
            self._thread.start()

    def stop(self, timeout=5.0):
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._publish(batch)
                    return
                batch.append(item)
            self._publish(batch)

    def _publish(self, batch):
        try:
            items = self._items(dict.fromkeys(batch))
            if items:
                self._post(items)
                self.published += len(items)
        except OSError as exc:  # Pushpin down or unreachable: expected
            self.failed += len(batch)
            log.warning("live publish of %d channel(s) to %s failed: %s",
                        len(batch), self.url, getattr(exc, "reason", exc))
        except Exception:
            self.failed += len(batch)
            log.exception("live publish of %d channel(s) to %s failed",
                          len(batch), self.url)

    def _items(self, wanted):
        """Return the publish items: each channel's answer, read now."""
        with reading(self.db) as conn:
            users = conn.root()[APP_ROOT_NAME].users
            items = []
            for user_id, before in wanted:
                user = users.get(user_id)
                if user is None:
                    continue
                headers, answer = sync.poll(
                    user.tree, before, (), limit=self.page_size)
                headers["Content-Type"] = "application/json"
                items.append({
                    "channel": channel(user_id, before),
                    "formats": {"http-response": {
                        "code": 200, "reason": "OK", "headers": headers,
                        "body": json.dumps(answer)}},
                })
            return items

    def _post(self, items):
        body = json.dumps({"items": items}).encode("utf-8")
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            answer.read()
