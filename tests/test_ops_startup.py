"""Start-up errors, each one's exact output from a real pserve, pshell and
myproject-admin; the console scripts' quiet default."""
import os
import subprocess
import sys

import pytest

from .servers import Server, write_ini

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCTION = os.path.join(HERE, "production.ini")

COMMANDS = {
    "pserve": [sys.executable, "-m", "pyramid.scripts.pserve"],
    "pshell": [sys.executable, "-m", "pyramid.scripts.pshell"],
    "myproject-admin": [sys.executable, "-m", "myproject.scripts.admin"],
}
ADMIN_ARGS = {"myproject-admin": ["list-users"]}

PRODUCTION_VARIABLES = {
    "MYPROJECT_ZODB_URI": "zodbconn.uri",
    "MYPROJECT_ADMIN_USERNAME": "myproject.admin.username",
    "MYPROJECT_ADMIN_PASSWORD_HASH": "myproject.admin.password_hash",
    "MYPROJECT_SESSION_SECRET": "myproject.admin.session_secret",
    "MYPROJECT_APNS_KEY_FILE": "myproject.push.apns.key_file",
    "MYPROJECT_APNS_KEY_ID": "myproject.push.apns.key_id",
    "MYPROJECT_APNS_TEAM_ID": "myproject.push.apns.team_id",
    "MYPROJECT_APNS_TOPIC": "myproject.push.apns.topic",
    "MYPROJECT_FCM_SERVICE_ACCOUNT_FILE":
        "myproject.push.fcm.service_account_file",
}


def environment(**variables):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MYPROJECT_")}
    env.update(variables)
    return env


def run(command, ini, env=None, args=()):
    """Return (status, stdout, stderr) of command on ini (stdin empty)."""
    done = subprocess.run(
        COMMANDS[command] + list(args) + [ini] + ADMIN_ARGS.get(command, []),
        env=env or environment(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, cwd=HERE)
    return done.returncode, done.stdout, done.stderr


def prefix(command):
    return ("myproject-admin: cannot start: " if command == "myproject-admin"
            else "myproject: cannot start: ")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_missing_variable_is_named_at_once(command):
    status, out, err = run(command, PRODUCTION)
    lines = [f"  {key}: environment variable {name} is not set (the .ini "
             "file asks for it)" for name, key in PRODUCTION_VARIABLES.items()]
    assert (status, out, err) == (1, "", prefix(command) + "9 problems in "
                                  "the settings:\n" + "\n".join(lines) + "\n")


def test_production_ini_s_header_names_every_variable():
    with open(PRODUCTION) as f:
        header = f.read().split("\n###\n", 1)[0]
    for name in PRODUCTION_VARIABLES:
        assert f"#   {name} " in header


@pytest.mark.parametrize("command", COMMANDS)
def test_invalid_values_are_listed_with_the_missing_ones(command, tmp_path):
    env = environment(**{name: "x" for name in PRODUCTION_VARIABLES})
    del env["MYPROJECT_ZODB_URI"]
    env["MYPROJECT_ADMIN_PASSWORD_HASH"] = ""
    env["MYPROJECT_SESSION_SECRET"] = "too short"
    status, out, err = run(command, PRODUCTION, env)
    assert (status, out, err) == (1, "", prefix(command) + (
        "4 problems in the settings:\n"
        "  zodbconn.uri: environment variable MYPROJECT_ZODB_URI is not set "
        "(the .ini file asks for it)\n"
        "  myproject.admin.session_secret: at least 32 characters are "
        "needed, not 9\n"
        "  myproject.push.apns.key_file: cannot read x (FileNotFoundError)\n"
        "  myproject.push.fcm.service_account_file: cannot read x "
        "(FileNotFoundError)\n"))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_misspelt_setting_is_named_with_what_was_meant(command, tmp_path):
    ini, _ = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                       settings={"myproject.sync.pagesize": "10"})
    assert run(command, ini) == (1, "", prefix(command) + (
        "myproject.sync.pagesize: not a setting of this version (did you "
        "mean myproject.sync.page_size?); docs/settings.txt lists them\n"))


@pytest.fixture
def running(tmp_path):
    """A pserve holding its FileStorage; (its .ini, the storage's path)."""
    data = tmp_path / "var" / "Data.fs"
    ini, port = write_ini(str(tmp_path), f"file://{data}")
    server = Server(ini, port).start()
    yield ini, str(data)
    server.stop()


@pytest.mark.parametrize("command", ["pserve", "pshell"])
def test_a_locked_file_storage_is_one_line(running, command):
    ini, data = running
    assert run(command, ini) == (1, "", (
        f"myproject: cannot start: the database {data} is locked by a "
        "running server: stop it first\n"))


def test_myproject_admin_says_so_too(running):
    ini, data = running
    assert run("myproject-admin", ini) == (1, "", (
        f"myproject-admin: cannot start: the database {data} is locked by a "
        "running server: stop it first, or use the users API (POST /users)\n"))


def test_a_missing_ini_file_is_one_line_for_myproject_admin():
    assert run("myproject-admin", "no-such.ini") == (
        1, "", "myproject-admin: no such file: no-such.ini\n")


def test_myproject_admin_is_quiet_unless_verbose(tmp_path):
    ini, _ = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                       log_level="INFO")
    base = COMMANDS["myproject-admin"]
    done = subprocess.run(base + [ini, "add-user", "alice"], env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 1  # the token
    done = subprocess.run(base + ["-v", ini, "list-users"], env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "alice  generation 3\n")
    assert "push dispatcher started" in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("uri, says", [
    ("postgre://me:s3cret@127.0.0.1/db", "cannot open the database "
     "postgre://me:***@127.0.0.1/db: NoResolverForScheme: 'No resolver found "
     "for uri: postgre://me:***@127.0.0.1/db' (zodbconn.uri takes file://, "
     "zeo://, postgres:// or memory://: docs/settings.txt)"),
    ("fle:///{tmp}/Data.fs", "cannot open the database fle:///{tmp}/Data.fs: "
     "NoResolverForScheme: 'No resolver found for uri: fle:///{tmp}/Data.fs' "
     "(zodbconn.uri takes file://, zeo://, postgres:// or memory://: "
     "docs/settings.txt)"),
    ("file://{tmp}/Data.fs?connection_cache_siz=10",
     "cannot open the database file://{tmp}/Data.fs?connection_cache_siz=10: "
     "UnknownDatabaseKeywords: 'Unrecognized database keyword(s): "
     "connection_cache_siz'"),
    ("zeo://127.0.0.1:{port}?username=u&password=s3cret&cache_siz=1",
     "cannot open the database zeo://127.0.0.1:{port}?username=u&password=***"
     "&cache_siz=1: UnknownDatabaseKeywords: 'Unrecognized database "
     "keyword(s): cache_siz'"),
    ("postgres://me:s3cret@[::1/db", "cannot open the database (zodbconn.uri: "
     "it does not parse as a URI): ValueError: Invalid IPv6 URL"),
    ("file://{tmp}/afile/Data.fs",
     "cannot make the database's folder {tmp}/afile: FileExistsError: File "
     "exists"),
    ("postgres://me:s3cret@127.0.0.1:{port}/db?keep_history=false",
     "cannot open the database postgres://me:***@127.0.0.1:{port}/db?"
     "keep_history=false: OperationalError: connection to server at "
     "\"127.0.0.1\", port {port} failed: Connection refused"),
])
def test_a_database_that_cannot_be_opened_is_one_line(tmp_path, command, uri,
                                                      says):
    from .servers import free_port
    (tmp_path / "afile").write_text("not a folder")
    values = {"tmp": tmp_path, "port": free_port()}
    ini, _ = write_ini(str(tmp_path), uri.format(**values))
    status, out, err = run(command, ini)
    assert (status, out) == (1, "")
    # (RelStorage logs its own warning first.)
    assert err.splitlines()[-1] == prefix(command) + says.format(**values)
    assert "s3cret" not in err and "Traceback" not in err


def test_a_port_in_use_is_one_line(tmp_path):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    ini, _ = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs", port=port)
    try:
        status, out, err = run("pserve", ini)
    finally:
        taken.close()
    assert status == 1
    assert err.splitlines()[-1] == (
        f"myproject: cannot start: cannot listen on 127.0.0.1:{port}: "
        "Address already in use")
    assert "Traceback" not in out + err
