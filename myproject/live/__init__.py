"""Live updates for open web tabs: polls held until the tree changes.

``GET /users/<id>?generation=G&wait=S`` (S from 1 to ``views.wire.MAX_WAIT``
seconds) answers at once when the client has updates to get; otherwise it
is held until the user's tree passes G or S runs out, then answered as
usual.  Two ways to hold it, chosen by ``myproject.live.grip``:

- ``grip.py``: behind Pushpin, which holds the connection; the app answers
  at once with GRIP instructions and publishes after each commit.
- ``waiters.py``: in this process (development), a bounded number of
  waitress threads wait, woken after each commit.

``tween.py`` decides, for every request, whether it is such a poll.  This
module wires the after-commit side: ``LiveOnCommit`` is a subscriber of
``changes.tracker`` that tells the publisher or the waiters which users'
trees changed, from which generation to which.
"""
import atexit

from .. import changes
from ..resources import APP_ROOT_NAME, zodb_database
from ..settings import app_settings
from .grip import Publisher
from .waiters import Waiters


class LiveOnCommit:
    """Change-tracker subscriber: the changed users' trees of one app."""

    def __init__(self, db, *, publisher=None, waiters=None):
        self.db = db
        self.publisher = publisher
        self.waiters = waiters

    def __call__(self, roots):
        for root in roots:
            jar = root._p_jar
            if jar is None or jar.db() is not self.db:
                continue
            site = jar.root().get(APP_ROOT_NAME)
            user = site.users.get(root.id) if site is not None else None
            if user is None or user.tree is not root:
                continue
            after = root.generation
            before = getattr(root, "_v_generation_before", after - 1)
            if self.publisher is not None:
                self.publisher.submit(user.id, before, after)
            if self.waiters is not None:
                self.waiters.wake(user.id, after)


class LiveService:
    """The publisher (or the waiters) and the subscription, together."""

    def __init__(self, db, settings):
        self.publisher = self.waiters = None
        if settings.live_grip:
            self.publisher = Publisher(db, settings.live_publish_url,
                                       page_size=settings.sync_page_size)
        else:
            self.waiters = Waiters(settings.live_max_waiting)
        self.subscriber = LiveOnCommit(db, publisher=self.publisher,
                                       waiters=self.waiters)

    def start(self):
        if self.publisher is not None:
            self.publisher.start()
        changes.tracker.subscribe(self.subscriber)
        atexit.register(self.stop)

    def stop(self):
        changes.tracker.unsubscribe(self.subscriber)
        if self.publisher is not None:
            self.publisher.stop()
        atexit.unregister(self.stop)


def live_service(registry):
    """Return the app's ``LiveService``."""
    return registry.live_service


def includeme(config):
    changes.install()
    service = LiveService(zodb_database(config.registry),
                          app_settings(config.registry))
    config.registry.live_service = service
    service.start()
