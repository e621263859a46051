"""Real storage servers for tests: PostgreSQL (RelStorage) and ZEO.

Plain functions start and stop the servers, so scripts and benchmarks can use
them too; the pytest fixtures at the bottom wrap them.  Register the fixtures
from ``tests/conftest.py`` with::

    pytest_plugins = ["tests.storage"]

``zodb_uri_for(kind, target, **params)`` builds the zodburi URI that
``pyramid_zodbconn`` (``zodbconn.uri``) and ``zodburi.resolve_uri`` take, for
``file`` (FileStorage), ``postgresql`` (RelStorage; the scheme RelStorage
registers is ``postgres://``) and ``zeo`` (ClientStorage).

This module has no asserts for pytest to rewrite (PYTEST_DONT_REWRITE), so
test modules may import it before it is registered as a plugin.
"""
import atexit
import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest

#: Environment variable naming a folder holding initdb, pg_ctl and postgres.
PG_BIN_VARIABLE = "PG_BIN"

#: Where Debian/Ubuntu's ``postgresql`` package puts the server binaries.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"

#: Settings for a throwaway cluster: fast and forgetful.
PG_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}

#: The session settings docs/scaling.txt gives the servers' role.
SESSION_SQL = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "etc", "postgresql-session.sql")

_PG_SYSTEM_USER = "postgres"
_START_TIMEOUT = 30.0


class PostgreSQLNotFound(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found."""


class ServerError(RuntimeError):
    """A test server failed to start or stop; the message carries its log."""


# -- small helpers ---------------------------------------------------------

def free_port(host="127.0.0.1"):
    """Return a TCP port on host that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host, port, timeout, process=None):
    """Return once host:port accepts TCP connections.

    Raises ServerError after timeout seconds, or as soon as process exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServerError(f"server exited with status {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ServerError(
                    f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)


def _tail(path, lines=30):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


# -- PostgreSQL ------------------------------------------------------------

def find_postgresql_bin():
    """Return the folder holding initdb, pg_ctl and postgres.

    ``$PG_BIN`` wins; otherwise the newest ``/usr/lib/postgresql/*/bin``, then
    the ``PATH``.  Raises PostgreSQLNotFound with what to install.
    """
    needed = ("initdb", "pg_ctl", "postgres")

    def complete(folder):
        return all(os.access(os.path.join(folder, name), os.X_OK)
                   for name in needed)

    explicit = os.environ.get(PG_BIN_VARIABLE)
    if explicit:
        if complete(explicit):
            return explicit
        raise PostgreSQLNotFound(
            f"{PG_BIN_VARIABLE}={explicit} does not hold {', '.join(needed)}")

    def version(folder):
        name = os.path.basename(os.path.dirname(folder))
        return tuple(int(part) if part.isdigit() else 0
                     for part in name.split("."))

    for folder in sorted(glob.glob(PG_BIN_GLOB), key=version, reverse=True):
        if complete(folder):
            return folder

    on_path = shutil.which("pg_ctl")
    if on_path and complete(os.path.dirname(on_path)):
        return os.path.dirname(on_path)

    raise PostgreSQLNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
        f"{PG_BIN_GLOB} or on PATH; install them (Debian: "
        "'apt-get install postgresql') or set "
        f"{PG_BIN_VARIABLE} to the folder holding them")


def _as_postgres_user(argv):
    """Return argv wrapped so it runs as the postgres system user if we are root.

    PostgreSQL refuses to run as root; any other user runs it directly.
    """
    if os.geteuid() != 0:
        return list(argv)
    try:
        import pwd
        pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        raise PostgreSQLNotFound(
            f"running as root, but there is no '{_PG_SYSTEM_USER}' system user "
            "to run PostgreSQL as (the postgresql package creates it)") from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", _PG_SYSTEM_USER, "--", *argv]
    import shlex
    return ["su", _PG_SYSTEM_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]


def _run(argv, log_path=None):
    result = subprocess.run(
        _as_postgres_user(argv), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        log = f"\n--- server log ---\n{_tail(log_path)}" if log_path else ""
        raise ServerError(
            f"{' '.join(argv)} failed with status {result.returncode}:\n"
            f"{result.stdout}{log}")
    return result.stdout


def _quote_dsn_value(value):
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgreSQLServer:
    """A running throwaway PostgreSQL cluster (superuser, trust auth)."""

    def __init__(self, *, bindir, basedir, host, port, user):
        self.bindir = bindir
        self.basedir = basedir
        self.datadir = os.path.join(basedir, "data")
        self.log_path = os.path.join(basedir, "postgresql.log")
        self.host = host
        self.port = port
        self.user = user
        self._names = itertools.count(1)

    def __repr__(self):
        return f"<PostgreSQLServer {self.user}@{self.host}:{self.port}>"

    def dsn(self, dbname="postgres", user=None):
        """Return the libpq connection string for database dbname."""
        return " ".join(
            f"{key}={_quote_dsn_value(value)}" for key, value in (
                ("dbname", dbname), ("user", user or self.user),
                ("host", self.host), ("port", self.port)))

    def execute(self, sql, dbname="postgres"):
        """Run one SQL statement outside a transaction; return its rows or None."""
        return execute(self.dsn(dbname), sql)

    def create_database(self, name=None):
        """Create an empty database (a fresh unique name if None); return its DSN."""
        if name is None:
            name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def create_role_database(self, role):
        """Create a login role (no superuser) and a database of the same
        name that it owns, as docs/scaling.txt does; return its DSN."""
        self.execute(f'CREATE ROLE "{role}" LOGIN')
        self.execute(f'CREATE DATABASE "{role}" OWNER "{role}"')
        return self.dsn(role, user=role)

    def drop_database(self, name):
        """Drop database name, closing what is still connected to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def uri(self, dbname, **params):
        """Return the RelStorage zodburi URI for database dbname."""
        return zodb_uri_for("postgresql", self.dsn(dbname), **params)

    def stop(self):
        """Stop the server and delete the cluster (idempotent)."""
        atexit.unregister(self.stop)
        try:
            if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
                _run([os.path.join(self.bindir, "pg_ctl"), "stop",
                      "-D", self.datadir, "-m", "immediate", "-w"],
                     self.log_path)
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def execute(dsn, sql):
    """Run SQL outside a transaction on dsn; return the rows of its last
    statement, or None."""
    import psycopg2
    connection = psycopg2.connect(dsn)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else None
    finally:
        connection.close()


def apply_session_settings(dsn):
    """Run ``etc/postgresql-session.sql`` as the DSN's role: its later
    sessions get the settings."""
    with open(SESSION_SQL) as f:
        execute(dsn, f.read())


def start_postgresql(*, host="127.0.0.1", settings=None):
    """Create and start a throwaway cluster; return its PostgreSQLServer.

    The cluster lives in a fresh folder under the system temp dir, owned by the
    postgres system user when we run as root; it listens on a free port on
    host and on a unix socket in that folder.  Call ``stop()`` when done.
    """
    bindir = find_postgresql_bin()
    # Not pytest's tmp_path: its parents are private to root, and the
    # server runs as postgres.
    basedir = tempfile.mkdtemp(prefix="myproject-pg-")
    try:
        if os.geteuid() == 0:
            import pwd
            entry = pwd.getpwnam(_PG_SYSTEM_USER)
            os.chown(basedir, entry.pw_uid, entry.pw_gid)
        user = "postgres"
        server = None
        _run([os.path.join(bindir, "initdb"), "-D", os.path.join(basedir, "data"),
              "-U", user, "--auth=trust", "--encoding=UTF8", "--no-locale",
              "--no-sync"])
        options = dict(PG_SETTINGS, **(settings or {}))
        for attempt in range(3):
            port = free_port(host)
            server = PostgreSQLServer(bindir=bindir, basedir=basedir,
                                      host=host, port=port, user=user)
            # Options on the command line, quoted for the shell pg_ctl uses.
            flags = [f"-c listen_addresses={host}", f"-c port={port}",
                     f"-c unix_socket_directories={basedir}"]
            flags += [f"-c {key}={value}" for key, value in options.items()]
            try:
                _run([os.path.join(bindir, "pg_ctl"), "start", "-w",
                      "-t", str(int(_START_TIMEOUT)), "-D", server.datadir,
                      "-l", server.log_path, "-o", " ".join(flags)],
                     server.log_path)
            except ServerError:
                if attempt == 2 or "could not bind" not in _tail(server.log_path):
                    raise
                continue  # someone took the port between probe and bind
            atexit.register(server.stop)  # a crashed script leaves nothing behind
            return server
    except BaseException:
        shutil.rmtree(basedir, ignore_errors=True)
        raise


# -- ZEO -------------------------------------------------------------------

ZEO_CLIENT_CONFIG = """\
%import ZEO
<zodb>
  <clientstorage>
    server {address}
    server-sync {server_sync}
    cache-size {cache_size}
    wait-timeout {wait_timeout}
  </clientstorage>
</zodb>
"""


class ZEOServer:
    """A running ``runzeo`` process serving one FileStorage named '1'."""

    def __init__(self, *, process, directory, host, port, own_directory):
        self.process = process
        self.directory = directory
        self.path = os.path.join(directory, "Data.fs")
        self.log_path = os.path.join(directory, "zeo.log")
        self.host = host
        self.port = port
        self._own_directory = own_directory
        self._configs = 0

    @property
    def address(self):
        """(host, port) as ClientStorage takes it."""
        return (self.host, self.port)

    def __repr__(self):
        return f"<ZEOServer {self.host}:{self.port} {self.path}>"

    def uri(self, **params):
        """Return the zodburi ``zeo://`` URI of this server.

        Such a client does not wait for invalidations when a transaction
        begins, so another client's commit can take a moment to show; use
        ``zconfig_uri()`` where a read must see every earlier commit.
        """
        return zodb_uri_for("zeo", self.address, **params)

    def zconfig_uri(self, *, server_sync=True, cache_size="20MB", wait_timeout=30):
        """Write a ClientStorage ZConfig file; return its ``zconfig://`` URI.

        ``server-sync`` (which a zeo:// URI cannot set) makes every
        transaction begin with a round trip to the server, so it sees all
        commits made before it began.
        """
        self._configs += 1
        path = os.path.join(self.directory, f"client-{self._configs}.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ZEO_CLIENT_CONFIG.format(
                address=f"{self.host}:{self.port}",
                server_sync="true" if server_sync else "false",
                cache_size=cache_size, wait_timeout=wait_timeout))
        return f"zconfig://{path}"

    def stop(self):
        """Stop runzeo (SIGTERM, then SIGKILL after 10 s); idempotent."""
        atexit.unregister(self.stop)
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            if self._own_directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def start_zeo(directory=None, *, host="127.0.0.1"):
    """Start ``runzeo`` on a free port with a FileStorage in directory.

    directory defaults to a fresh temp folder, deleted again by ``stop()``.
    Returns the ZEOServer once it accepts connections.
    """
    own_directory = directory is None
    if own_directory:
        directory = tempfile.mkdtemp(prefix="myproject-zeo-")
    port = free_port(host)
    log_path = os.path.join(directory, "zeo.log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ZEO.runzeo",
             "-a", f"{host}:{port}", "-f", os.path.join(directory, "Data.fs")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    server = ZEOServer(process=process, directory=directory, host=host,
                       port=port, own_directory=own_directory)
    atexit.register(server.stop)  # a crashed script leaves nothing behind
    try:
        wait_for_port(host, port, _START_TIMEOUT, process)
    except ServerError as error:
        log_tail = _tail(log_path)
        server.stop()
        raise ServerError(f"runzeo: {error}\n--- log ---\n{log_tail}") from None
    return server


# -- zodburi URIs ----------------------------------------------------------

def _query(params):
    def text(value):
        # '1'/'0' are the booleans both RelStorage's and zodburi's
        # converters accept (zodburi's ZEO flags are parsed as integers).
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)
    if not params:
        return ""
    return "?" + urllib.parse.urlencode(
        [(key, text(value)) for key, value in params.items()])


def _postgres_uri(dsn):
    """Return ``postgres://user[:password]@host:port/dbname`` for a libpq DSN.

    RelStorage's resolver does not percent-decode and turns a missing part
    into the string 'None', so every part is required and must be plain.
    """
    from psycopg2.extensions import parse_dsn
    parts = parse_dsn(dsn)
    missing = [key for key in ("dbname", "user", "host", "port")
               if not parts.get(key)]
    if missing:
        raise ValueError(f"the DSN needs {', '.join(missing)} for a postgres:// URI")
    if parts["host"].startswith("/"):
        raise ValueError("postgres:// URIs cannot name a unix socket; use TCP")
    unsafe = set("@/:?#%' \\")
    for key in ("user", "password", "dbname"):
        if unsafe & set(parts.get(key) or ""):
            raise ValueError(
                f"the {key} contains a character a postgres:// URI cannot "
                "carry (RelStorage does not percent-decode)")
    credentials = parts["user"]
    if parts.get("password"):
        credentials += ":" + parts["password"]
    return f"postgres://{credentials}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def zodb_uri_for(kind, target, **params):
    """Return a zodburi URI string for a storage of the given kind.

    kind and target:
      ``"file"``        target is a FileStorage path
                        -> ``file:///abs/path/Data.fs``
      ``"postgresql"``  target is a libpq DSN (RelStorage)
                        -> ``postgres://user[:pw]@host:port/dbname``
      ``"zeo"``         target is (host, port), "host:port" or a socket path
                        -> ``zeo://host:port``

    params become the query string: storage options (RelStorage:
    ``keep_history``, ``cache_local_mb``, ...; ZEO: ``cache_size``,
    ``wait_timeout``, ...) and ZODB.DB options (``connection_cache_size``,
    ``connection_pool_size``, ``database_name``).  Booleans become 1/0.
    Raises ValueError for an unknown kind or a target a URI cannot carry.
    """
    if kind == "file":
        return f"file://{os.path.abspath(os.fspath(target))}{_query(params)}"
    if kind == "postgresql":
        return _postgres_uri(target) + _query(params)
    if kind == "zeo":
        if isinstance(target, tuple):
            host, port = target
            location = f"{host}:{port}"
        else:
            location = str(target)
        return f"zeo://{location}{_query(params)}"
    raise ValueError(f"unknown storage kind {kind!r} (file, postgresql, zeo)")


def open_db(uri):
    """Return a ZODB.DB opened from a zodburi URI, as pyramid_zodbconn does."""
    import ZODB
    import zodburi
    storage_factory, dbkw = zodburi.resolve_uri(uri)
    storage = storage_factory()
    try:
        return ZODB.DB(storage, **dbkw)
    except BaseException:
        storage.close()
        raise


@contextlib.contextmanager
def opened_db(uri):
    """Context manager: a ZODB.DB from uri, closed on exit."""
    db = open_db(uri)
    try:
        yield db
    finally:
        db.close()


# -- pytest fixtures -------------------------------------------------------

@pytest.fixture(scope="session")
def postgresql_server():
    """A throwaway PostgreSQL cluster for the whole session (PostgreSQLServer).

    ``create_database()`` gives each test or module its own database.
    """
    try:
        server = start_postgresql()
    except PostgreSQLNotFound as error:
        pytest.fail(str(error), pytrace=False)
    with server:
        yield server


@pytest.fixture
def postgresql_dsn(postgresql_server):
    """The DSN of a fresh, empty database on postgresql_server, dropped afterwards."""
    dsn = postgresql_server.create_database()
    yield dsn
    from psycopg2.extensions import parse_dsn
    postgresql_server.drop_database(parse_dsn(dsn)["dbname"])


@pytest.fixture(scope="session")
def zeo_server():
    """A ``runzeo`` server for the whole session (ZEOServer; ``.address``).

    Its storage is shared by every test of the session: use distinct keys.
    """
    with start_zeo() as server:
        yield server
