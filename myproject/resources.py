"""Resources: what is stored, and the traversal tree the views are found on.

Stored (persistent): ``Site`` -> ``Users`` -> ``User``; each User owns a
tree of generational sets (``user.tree``, a ``GSet`` whose id is the user
id) holding ``Document`` objects and further sets, plus its tokens and
devices outside the synced tree.

Traversed: the URL ``/users/alice/messages/m1`` reaches ``SetNode`` and
``DocumentNode`` objects, small non-persistent wrappers that carry the
``__name__``/``__parent__`` of the path they were reached by.  A shared
document sits in several users' trees at once, so its location (and so the
ACL that applies) comes from the path, not from the document.

A set as the views see it is an ``ISetContext``: the ``User`` for the root
set of its tree (``/users/alice``), a ``SetNode`` for a subset; both have
the set as ``gset`` and the tree's owner as ``user``.
"""
import contextlib
import datetime
import hashlib
import hmac
import secrets
import unicodedata

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from pyramid.authorization import ALL_PERMISSIONS, Allow, Deny, Everyone
import transaction
from pyramid_zodbconn import get_connection
from transaction.interfaces import NoTransaction
from zope.interface import Attribute, Interface, implementer

# Stored documents name their class as myproject.resources.Document.
from .documents import Copy, Document, release_documents  # noqa: F401
from .generationalset import GSet

APP_ROOT_NAME = "myproject"
ADMIN = "role:admin"
MAX_ID_LENGTH = 128


def user_principal(user_id):
    """Return the principal of the user with that id."""
    return "user:" + user_id


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class ISetContext(Interface):
    """A set reached by a URL: a tree's root (a User) or a subset."""

    gset = Attribute("The generational set.")
    user = Attribute("The User whose tree it was reached through.")


def is_text(value):
    """Is the str Unicode text (no lone surrogates, which UTF-8 cannot
    encode: JSON's ``"\\ud800"`` escapes decode to them)?"""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(value, what="id"):
    """Return value if it is a usable id; raise ValueError saying why not."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if not is_text(value):
        raise ValueError(f"{what} must not contain lone surrogates")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_ID_LENGTH} characters")
    if "/" in value or any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError(f"{what} must not contain '/' or control characters")
    if value in (".", "..") or value.startswith("@@"):
        raise ValueError(f"{what} must not be '.', '..' or start with '@@'")
    return value


def tree_acl(user_id):
    """Return the ACL of the tree of the user with that id: its user may
    view and edit it (admins may, by the Site's ACL)."""
    return [(Allow, user_principal(user_id), ("view", "edit"))]


class TreeGate:
    """Where a tree is, whether or not its user exists: the ACL that
    decides who may learn what is in it (``security.tree_access``)."""

    def __init__(self, user_id, users):
        self.__name__ = user_id
        self.__parent__ = users
        self.__acl__ = tree_acl(user_id)


class Site(Persistent):
    """The application root: ``/``."""

    __name__ = ""
    __parent__ = None
    __acl__ = [(Allow, ADMIN, ALL_PERMISSIONS)]

    def __init__(self):
        from .evolve import LATEST
        self.users = Users(self)
        self.tokens = OOBTree()  # token id -> user id
        self.devices = OOBTree()  # push token -> user id
        self.layout = LATEST  # of the stored classes: see evolve.py

    def register_device(self, user, platform, token, environment):
        """Register a push token for user, moving it from any other user."""
        devices = self.devices
        previous = devices.get(token)
        if previous is not None and previous != user.id:
            other = self.users.get(previous)
            if other is not None:
                other.devices.pop(token, None)
        record = user.devices.get(token)
        if (record is None or record.platform != platform
                or record.environment != environment):
            user.devices[token] = DeviceRecord(platform, token, environment)
        if previous != user.id:
            devices[token] = user.id
        return user.devices[token]

    def unregister_device(self, user, token):
        """Forget user's push token; KeyError if user has no such token."""
        del user.devices[token]
        devices = self.devices
        if devices.get(token) == user.id:
            del devices[token]

    def __getitem__(self, name):
        if name == "users":
            return self.users
        raise KeyError(name)

    def user_for_token(self, token):
        """Return the User a bearer token belongs to, or None."""
        token_id, _, secret = token.partition(".")
        user_id = self.tokens.get(token_id)
        if user_id is None or not secret:
            return None
        user = self.users.get(user_id)
        if user is None:
            return None
        stored = user.tokens.get(token_id)
        if stored is None or not stored.matches(secret):
            return None
        stored.used()
        return user


class Users(Persistent):
    """The users: ``/users``; an OOBTree of User plus a Length counter."""

    __name__ = "users"

    def __init__(self, parent):
        self.__parent__ = parent
        self._users = OOBTree()
        self._count = Length()

    def __getitem__(self, user_id):
        return self._users[user_id]

    def get(self, user_id, default=None):
        return self._users.get(user_id, default)

    def __contains__(self, user_id):
        return user_id in self._users

    def __iter__(self):
        return iter(self._users)  # the ids, as a mapping's

    def __len__(self):
        return self._count()

    def values(self, min=None, max=None):
        """Iterate over the users in id order, from min to max."""
        return self._users.values(min, max)

    def keys(self, min=None, max=None):
        return self._users.keys(min, max)

    def add(self, user_id, admin=False, sets=()):
        """Create and return a User starting with these sets (a new user
        of the app starts with the configured ones: ``create_user``).

        Raises ValueError for an unusable id, KeyError if it is taken.
        """
        check_id(user_id, "user id")
        if user_id in self._users:
            raise KeyError(user_id)
        user = User(user_id, self, admin=admin)
        for name in sets:
            user.tree.add(GSet(name))
        self._users[user_id] = user
        self._count.change(1)
        return user

    def remove(self, user_id):
        """Delete a user with its tree, tokens and devices.

        Documents it shared leave the other users' trees; documents shared
        with it forget it.
        """
        user = self._users.pop(user_id)
        self._count.change(-1)
        release_documents(user.tree)
        site = self.__parent__
        for token_id in list(user.tokens.keys()):
            site.tokens.pop(token_id, None)
        for token in list(user.devices.keys()):
            site.unregister_device(user, token)
        return user


def create_user(users, settings, user_id, *, admin=False):
    """Create a user with the configured sets (``myproject.user_sets``).

    settings are the app's parsed ``Settings``.  Raises ValueError for an
    unusable id, KeyError if it is taken.
    """
    return users.add(user_id, admin=admin, sets=settings.user_sets)


@implementer(ISetContext)
class User(Persistent):
    """One user: its tree of sets, its tokens and its devices."""

    def __init__(self, user_id, parent, admin=False):
        self.__name__ = user_id
        self.__parent__ = parent
        self.admin = admin
        self.created = now()
        self.tree = GSet(user_id)
        self.tokens = OOBTree()   # token id -> Token
        self.devices = OOBTree()  # push token -> DeviceRecord

    @property
    def id(self):
        return self.__name__

    @property
    def gset(self):
        return self.tree

    @property
    def user(self):
        return self

    @property
    def __acl__(self):
        return tree_acl(self.__name__)

    def __getitem__(self, name):
        return node(self.tree[name], name, self)

    def new_token(self, label=""):
        """Create a token; return the bearer string (shown once only)."""
        token_id = secrets.token_hex(8)  # never starts with "-" (CLI args)
        secret = secrets.token_urlsafe(32)
        self.tokens[token_id] = Token(token_id, secret, label)
        self.__parent__.__parent__.tokens[token_id] = self.__name__
        return f"{token_id}.{secret}"

    def revoke_token(self, token_id):
        """Forget a token; KeyError if the user has no such token."""
        del self.tokens[token_id]
        del self.__parent__.__parent__.tokens[token_id]


class Token(Persistent):
    """A bearer token, of which only a hash is stored."""

    LAST_USED_RESOLUTION = datetime.timedelta(hours=1)

    def __init__(self, token_id, secret, label=""):
        self.id = token_id
        self.label = label
        self.digest = _digest(secret)
        self.created = now()
        self.last_used = None

    def matches(self, secret):
        return hmac.compare_digest(self.digest, _digest(secret))

    def due_for_use(self):
        """Would ``used()`` write (the last use is over an hour old)?"""
        return (self.last_used is None
                or now() - self.last_used > self.LAST_USED_RESOLUTION)

    def used(self):
        # Written at most hourly, so that polls stay read-only transactions.
        if self.due_for_use():
            self.last_used = now()


def _digest(secret):
    # The secret is 256 random bits: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class DeviceRecord(Persistent):
    """A push token registered by a user (kept outside the synced tree)."""

    def __init__(self, platform, token, environment="production"):
        self.platform = platform
        self.token = token
        self.environment = environment
        self.created = now()


@implementer(ISetContext)
class SetNode:
    """A subset as reached by a URL."""

    def __init__(self, gset, name, parent):
        self.gset = gset
        self.__name__ = name
        self.__parent__ = parent

    def __getitem__(self, name):
        return node(self.gset[name], name, self)

    @property
    def user(self):
        return owner_of(self)

    def delete(self):
        """Remove the set, with everything in it, from its parent set."""
        release_documents(self.gset)
        self.__parent__.gset.remove(self.gset, self.__name__)


class DocumentNode:
    """A document as reached by a URL: through its owner's tree or a holder's."""

    def __init__(self, document, name, parent, data=None):
        self.document = document
        self.__name__ = name
        self.__parent__ = parent
        # The data of the copy reached (the same in every holder).
        self.data = document.data if data is None else data

    @property
    def user(self):
        return owner_of(self)

    @property
    def owned(self):
        return self.document.owner == self.user.id

    @property
    def __acl__(self):
        # A holder (or an admin visiting it) may read and hide a document
        # shared with it; only edits through the owner's tree are allowed.
        return [] if self.owned else [(Deny, Everyone, "edit")]

    def delete(self):
        """Delete the document: through its owner's tree it is retracted
        from every holder; through a tree it was shared into, it is hidden
        from that tree only.  Return whether it was retracted."""
        if self.owned:
            self.document.retract()
        else:
            self.document.unplace(self.__parent__.gset)
        return self.owned


def node(ob, name, parent):
    if isinstance(ob, GSet):
        return SetNode(ob, name, parent)
    return DocumentNode(Document.of(ob, parent.gset), name, parent, ob.data)


def owner_of(resource):
    """Return the User whose tree the resource was reached through."""
    while not isinstance(resource, User):
        resource = resource.__parent__
    return resource


def root_factory(request):
    """Return the Site, creating it on first use."""
    site = getattr(request, "_myproject_site", None)
    if site is None:
        zodb_root = get_connection(request).root()
        site = zodb_root.get(APP_ROOT_NAME)
        if site is None:
            site = _create_site(request, zodb_root)
        # Asked for twice (by the security policy, by traversal); kept on
        # the request like its connection, so a retried attempt, which has
        # a new request, starts afresh.
        serve_site(request, site)
    return site


def _create_site(request, zodb_root):
    """Add the Site to a new database, in the request's transaction
    (pyramid_tm commits it) or, where none has begun (``pshell``, a script
    that bootstraps the app: the manager is explicit), in one of its own."""
    try:
        request.tm.get()
    except NoTransaction:
        with request.tm:
            zodb_root[APP_ROOT_NAME] = Site()
        return zodb_root[APP_ROOT_NAME]
    site = zodb_root[APP_ROOT_NAME] = Site()
    return site


def serve_site(request, site):
    """Make root_factory return site for request (None: look it up again)."""
    request._myproject_site = site


@contextlib.contextmanager
def reading(db):
    """Yield a connection of db in a transaction of its own, aborted at the
    end: a read outside any request (the heartbeat, the live publisher, the
    start-up check).  Its manager is explicit, as the requests' are: the
    connection polls the storage once, when the transaction begins, and a
    storage that fails then (its database down) leaves nothing behind.  An
    implicit manager's connection polls when it is opened, and when that
    fails ZODB leaves it half open: closing the database later fails."""
    tm = transaction.TransactionManager(explicit=True)
    conn = db.open(transaction_manager=tm)
    try:
        tm.begin()  # (a failed begin still leaves a transaction to abort)
        yield conn
    finally:
        try:
            tm.abort()
        finally:
            conn.close()


def zodb_database(registry):
    """Return the app's database (pyramid_zodbconn opened it in ``main``)."""
    return zodb_databases(registry)[""]


def zodb_databases(registry):
    """Return pyramid_zodbconn's {name: database} of the app (may be empty)."""
    return getattr(registry, "_zodb_databases", {})


def includeme(config):
    config.set_root_factory(root_factory)
