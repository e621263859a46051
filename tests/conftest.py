"""Shared fixtures: an app on a real FileStorage, WebTest, users, tokens."""
import pytest
import transaction
import webtest

from myproject import main
from myproject.resources import (
    APP_ROOT_NAME,
    create_user,
    zodb_database,
    zodb_databases,
)
from myproject.settings import app_settings as parsed_settings

pytest_plugins = ["tests.storage"]

# The fixtures' generator runs against an earlier version of the package.
collect_ignore_glob = ["fixtures/*"]


def app_settings(tmp_path, **overrides):
    settings = {
        "zodbconn.uri": f"file://{tmp_path}/var/Data.fs",
        "retry.attempts": "3",
        "myproject.user_sets": "messages tasks",
        "myproject.push.senders": "log",
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def storage():
    """The storage the app runs on; API test modules parametrize it."""
    return "file"


@pytest.fixture
def settings(tmp_path, request, storage):
    if storage == "file":
        return app_settings(tmp_path)
    assert storage == "postgresql", storage
    from .storage import zodb_uri_for
    dsn = request.getfixturevalue("postgresql_dsn")
    uri = zodb_uri_for("postgresql", dsn, keep_history=False)
    return app_settings(tmp_path, **{"zodbconn.uri": uri})


@pytest.fixture
def app(settings):
    application = main({}, **settings)
    yield application
    _close(application)


def _close(application):
    for name in ("push_service", "live_service"):
        service = getattr(application.registry, name, None)
        if service is not None:
            service.stop()
    for db in zodb_databases(application.registry).values():
        db.close()


@pytest.fixture
def testapp(app):
    return webtest.TestApp(app)


def site_of(app):
    """Open the app's database and return (site, connection) for checks."""
    db = zodb_database(app.registry)
    conn = db.open(transaction_manager=transaction.TransactionManager())
    return conn.root()[APP_ROOT_NAME], conn


def make_user(app, user_id, admin=False):
    """Create a user directly in the database; return its bearer token."""
    db = zodb_database(app.registry)
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    with tm:
        root = conn.root()
        if APP_ROOT_NAME not in root:
            from myproject.resources import Site
            root[APP_ROOT_NAME] = Site()
        site = root[APP_ROOT_NAME]
        user = create_user(site.users, parsed_settings(app.registry), user_id,
                           admin=admin)
        token = user.new_token("test")
    conn.close()
    return token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(app):
    return make_user(app, "root", admin=True)


@pytest.fixture
def alice(app):
    return make_user(app, "alice")


@pytest.fixture
def bob(app):
    return make_user(app, "bob")
