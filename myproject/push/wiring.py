"""The app's side of push: after a commit, tell the changed users' devices.

``changes.tracker`` calls ``PushOnCommit`` after every successful commit
with the generational-set roots the transaction changed.  For each root
that is a user's tree in this app's database it reads the user's devices
(still in the committing thread, from the connection that just committed)
and hands ``(user id, new generation, devices)`` to the push dispatcher,
whose ``submit`` never blocks.  Aborted or retried attempts never get here.

Dead tokens reported by APNs/FCM come back through ``DevicePruner``, which
removes them in a new transaction of its own, retrying conflicts.
"""
import atexit
import logging

import transaction
from ZODB.POSException import ConflictError

from .. import changes
from ..resources import APP_ROOT_NAME, zodb_database
from ..settings import app_settings
from . import Device, build_dispatcher

log = logging.getLogger(__name__)


class PushOnCommit:
    """A change-tracker subscriber feeding one app's dispatcher."""

    def __init__(self, db, dispatcher):
        self.db = db
        self.dispatcher = dispatcher

    def __call__(self, roots):
        for root in roots:
            jar = root._p_jar
            if jar is None or jar.db() is not self.db:
                continue  # another app's database, or never stored
            site = jar.root().get(APP_ROOT_NAME)
            user = site.users.get(root.id) if site is not None else None
            if user is None or user.tree is not root:
                continue
            devices = devices_of(user)
            if devices:
                self.dispatcher.submit(user.id, root.generation, devices)


class DevicePruner:
    """Removes a dead push token in a transaction of its own."""

    ATTEMPTS = 5

    def __init__(self, db):
        self.db = db

    def __call__(self, user_id, device):
        tm = transaction.TransactionManager(explicit=True)  # (resources.reading)
        conn = self.db.open(transaction_manager=tm)
        try:
            for attempt in tm.attempts(self.ATTEMPTS):
                with attempt:
                    site = conn.root()[APP_ROOT_NAME]
                    user = site.users.get(user_id)
                    record = user.devices.get(device.token) if user else None
                    if record is not None and record.platform == device.platform:
                        site.unregister_device(user, device.token)
                        tm.get().note(f"prune dead {device.platform} device "
                                      f"of {user_id}")
        except ConflictError:
            log.warning("could not prune a device of %s: conflicts", user_id)
        finally:
            conn.close()


class PushService:
    """The dispatcher and its subscription, started and stopped together."""

    def __init__(self, db, dispatcher):
        self.dispatcher = dispatcher
        self.subscriber = PushOnCommit(db, dispatcher)

    def start(self):
        self.dispatcher.start()
        changes.tracker.subscribe(self.subscriber)
        atexit.register(self.stop)

    def stop(self, timeout=5):
        """Unsubscribe; stop the dispatcher, giving its pushes up to
        ``timeout`` seconds."""
        changes.tracker.unsubscribe(self.subscriber)
        self.dispatcher.stop(timeout)
        atexit.unregister(self.stop)


def devices_of(user):
    """Return the push ``Device`` of each device the user registered."""
    return [Device(d.platform, d.token, d.environment)
            for d in user.devices.values()]


def includeme(config):
    changes.install()
    db = zodb_database(config.registry)
    dispatcher = build_dispatcher(app_settings(config.registry),
                                  prune=DevicePruner(db))
    service = PushService(db, dispatcher)
    config.registry.push_dispatcher = dispatcher
    config.registry.push_service = service
    service.start()
