"""Every setting the application reads, parsed once: the one settings table.

``main`` calls ``parse(settings)`` on the .ini file's ``[app:main]`` values:
``${NAME}`` is replaced from the environment, each key in ``SETTINGS`` is
parsed into its type (or given its default), and the ``Settings`` object
that comes out is kept on the registry (``app_settings(registry)``); no
module reads ``registry.settings`` itself.  Every problem found (a missing
environment variable, a value of the wrong type, a value missing for a
listed push sender) is collected, and one ``ConfigurationError`` lists them
all, each naming its key.

A key's attribute on ``Settings`` is its name without ``myproject.``, dots
as underscores: ``myproject.push.apns.key_id`` -> ``push_apns_key_id``.

``docs/settings.txt`` holds ``table()``'s output (a test keeps the two the
same).
"""
import difflib
import math
import os
import re

from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

from .passwords import parse_password_hash
from .push.sender import PLATFORMS
from .resources import check_id

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BOOLEANS = frozenset(("true", "false", "yes", "no", "on", "off", "1", "0",
                       "t", "f", "y", "n"))

#: The senders ``myproject.push.senders`` may list.
PUSH_SENDERS = ("log",) + PLATFORMS


# Kinds of value: each turns the .ini text into a value, or raises
# ValueError saying what was expected.

class Text:
    name = "text"
    empty = ""  # the value of a key left empty

    def parse(self, raw):
        return raw


class Secret(Text):
    name = "secret"

    def __init__(self, min_length=0):
        self.min_length = min_length
        if min_length:
            self.name = f"secret, >= {min_length} chars"

    def parse(self, raw):
        if len(raw) < self.min_length:
            raise ValueError(f"at least {self.min_length} characters are "
                             f"needed, not {len(raw)}")
        return raw


class Flag:
    name = "true/false"

    def parse(self, raw):
        if raw.lower() not in _BOOLEANS:
            raise ValueError(f"true or false is needed, not {raw!r}")
        return asbool(raw)


class Integer:
    def __init__(self, minimum):
        self.minimum = minimum
        self.name = f"integer >= {minimum}"

    def parse(self, raw):
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < self.minimum:
            raise ValueError(
                f"an integer >= {self.minimum} is needed, not {raw!r}")
        return value


class Seconds:
    def __init__(self, minimum=0.0, above=False):
        self.minimum = minimum
        self.above = above
        self.name = f"seconds {'>' if above else '>='} {minimum:g}"

    def parse(self, raw):
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < self.minimum or (
                self.above and value == self.minimum):
            raise ValueError(f"a number of {self.name} is needed, not {raw!r}")
        return value


class Names:
    """Words separated by spaces or newlines, each a usable id (or a choice)."""

    empty = ()

    def __init__(self, choices=None):
        self.choices = choices
        self.name = ("words from " + " ".join(choices) if choices
                     else "ids")

    def parse(self, raw):
        names = aslist(raw)
        for name in names:
            if self.choices is not None:
                if name not in self.choices:
                    raise ValueError(f"unknown {name!r} (choose from "
                                     f"{', '.join(self.choices)})")
            else:
                check_id(name, f"the set id {name!r}")
        return names


class HostPort:
    name = "host:port"
    empty = None

    def parse(self, raw):
        host, sep, port = raw.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"host:port is needed, not {raw!r}")
        return host.strip("[]"), int(port)


class Origins:
    """Web origins (scheme://host[:port]) separated by spaces or newlines."""

    name = "origins"
    empty = ()
    _ORIGIN = re.compile(r"https?://[^/\s?#]+\Z")

    def parse(self, raw):
        origins = aslist(raw)
        for origin in origins:
            if not self._ORIGIN.match(origin):
                raise ValueError(f"an origin such as https://app.example.com "
                                 f"(no path) is needed, not {origin!r}")
        return tuple(origin.lower() for origin in origins)


class ReadableFile(Text):
    """A path to a file this process can read (a key, a service account)."""

    name = "file"

    def parse(self, raw):
        path = super().parse(raw)
        if path:
            try:
                with open(path, "rb") as f:
                    f.read(1)
            except OSError as exc:
                raise ValueError(
                    f"cannot read {path} ({type(exc).__name__})") from None
        return path


class PasswordHash(Text):
    name = "password hash"

    def parse(self, raw):
        parse_password_hash(raw)
        return raw


class Setting:
    """One key: its kind of value, its default (as the .ini would write it,
    None for none) and what it means."""

    def __init__(self, key, kind, default, meaning):
        self.key = key
        self.kind = kind
        self.default = default
        self.meaning = meaning

    @property
    def attribute(self):
        name = self.key
        if name.startswith("myproject."):
            name = name[len("myproject."):]
        return name.replace(".", "_")

    def parse(self, raw):
        """Return the value for raw (None or blank: the default's)."""
        text = "" if raw is None else str(raw).strip()
        if not text:
            if self.default is None:
                raise ValueError("is required")
            text = self.default
            if not text:
                return self.kind.empty
        return self.kind.parse(text)


S = Setting
SETTINGS = (
    S("zodbconn.uri", Text(), None,
      "storage URI (zodburi: file://, zeo://, postgres://); also read by "
      "pyramid_zodbconn"),
    S("myproject.user_sets", Names(), "",
      "sets every new user starts with"),
    S("myproject.max_body_size", Integer(1), "1048576",
      "largest request body in bytes; a larger one gets 413"),
    S("myproject.poll_fast_path", Flag(), "true",
      "answer GET /users/<id>?generation=G without traversal (same "
      "security policy, ACL and error views)"),
    S("myproject.sync.page_size", Integer(1), "1000",
      "members per page of a poll or of a write's updates, when the request names no limit"),
    S("myproject.sync.max_page_size", Integer(1), "10000",
      "the largest limit a client may ask for (larger: 400), >= page_size"),
    S("myproject.tree_lock_dsn", Text(), "",
      "libpq DSN: writes to one tree queue on a PostgreSQL advisory lock "
      "across processes"),
    S("myproject.tree_lock_timeout", Seconds(0, above=True), "10",
      "longest wait for a tree lock; then retried like a conflict"),
    S("myproject.jwt.secret", Secret(), "",
      "HS256 secret of the auth service's JWTs"),
    S("myproject.jwt.public_key_file", ReadableFile(), "",
      "RS256 public key (PEM file) instead of the secret"),
    S("myproject.jwt.audience", Text(), "", "required aud of a JWT"),
    S("myproject.jwt.issuer", Text(), "", "required iss of a JWT"),
    S("myproject.jwt.create_users", Flag(), "true",
      "create a user on its first valid JWT"),
    S("myproject.admin.username", Text(), "",
      "the admin's login name (login is off without it)"),
    S("myproject.admin.password_hash", PasswordHash(), "",
      "from python -m myproject.scripts.hash_password (login is off "
      "without it)"),
    S("myproject.admin.session_secret", Secret(32), "",
      "signs the admin session cookie; empty: a random one per process"),
    S("myproject.admin.session_secure", Flag(), "false",
      "send the session cookie over HTTPS only"),
    S("myproject.admin.session_timeout", Integer(1), "3600",
      "seconds of inactivity that end an admin session"),
    S("myproject.admin.login_attempts", Integer(1), "5",
      "failed logins allowed from one address within the window"),
    S("myproject.admin.login_window", Seconds(1), "900",
      "that window; further tries get 429 until the oldest failure is "
      "that old"),
    S("myproject.push.max_devices", Integer(1), "20",
      "push devices per user"),
    S("myproject.push.senders", Names(PUSH_SENDERS), "log",
      "push senders; log serves the platforms no listed sender serves"),
    S("myproject.push.coalesce_window", Seconds(0), "0.05",
      "one user's changes within it make one push per device"),
    S("myproject.push.queue_size", Integer(1), "10000",
      "device notifications waiting or in flight; beyond it dropped"),
    S("myproject.push.max_attempts", Integer(1), "5",
      "attempts per notification for transient failures"),
    S("myproject.push.backoff_base", Seconds(0), "0.5",
      "retry n waits up to min(backoff_max, backoff_base * 2 ** (n - 1))"),
    S("myproject.push.backoff_max", Seconds(0), "30",
      "longest retry wait; a longer Retry-After gives up"),
    S("myproject.push.send_timeout", Seconds(0, above=True), "10",
      "longest FCM (or log) send; then a transient failure"),
    S("myproject.push.apns.key_file", ReadableFile(), "",
      "APNs token signing key (AuthKey_XXXXXXXXXX.p8); needed for apns"),
    S("myproject.push.apns.key_id", Text(), "",
      "the key's id; needed for apns"),
    S("myproject.push.apns.team_id", Text(), "",
      "the Apple developer team id; needed for apns"),
    S("myproject.push.apns.topic", Text(), "",
      "the app's bundle id; needed for apns"),
    S("myproject.push.apns.sandbox", Flag(), "false",
      "send every device to the APNs sandbox (else its environment "
      "decides)"),
    S("myproject.push.apns.pool_size", Integer(1), "10",
      "most HTTP/2 connections per APNs environment"),
    S("myproject.push.apns.timeout", Seconds(0, above=True), "10",
      "longest wait for APNs to answer one push"),
    S("myproject.push.apns.server", HostPort(), "",
      "instead of Apple's production host (tests, staging)"),
    S("myproject.push.apns.sandbox_server", HostPort(), "",
      "instead of Apple's sandbox host (default: apns.server)"),
    S("myproject.push.apns.ca_file", Text(), "",
      "CA certificates (PEM) to trust instead of the system's"),
    S("myproject.push.fcm.service_account_file", ReadableFile(), "",
      "Firebase service-account JSON key; needed for fcm"),
    S("myproject.push.fcm.project_id", Text(), "",
      "Firebase project id (default: the file's)"),
    S("myproject.push.fcm.timeout", Seconds(0, above=True), "10",
      "seconds per HTTP request to FCM"),
    S("myproject.push.fcm.workers", Integer(1), "4",
      "threads running pyfcm"),
    S("myproject.push.fcm.server", Text(), "",
      "base URL instead of https://fcm.googleapis.com (tests)"),
    # Web apps
    S("myproject.cors.origins", Origins(), "",
      "web origins allowed to call the API from a browser (CORS); empty: "
      "CORS is off"),
    S("myproject.cors.max_age", Integer(0), "600",
      "seconds a browser may keep a preflight's answer"),
    S("myproject.live.grip", Flag(), "false",
      "the app is behind Pushpin: hold ?wait= polls with GRIP instructions "
      "and publish after commits"),
    S("myproject.live.publish_url", Text(), "http://127.0.0.1:5561",
      "Pushpin's publish endpoint (its HTTP control port)"),
    S("myproject.live.max_waiting", Integer(0), "2",
      "without GRIP: polls held in this process at once (each takes a "
      "waitress thread); beyond it answered at once"),
    # Operations
    S("myproject.metrics.enabled", Flag(), "true",
      "count requests, polls, commits, pushes; serve GET /metrics"),
    S("myproject.metrics.token", Secret(), "",
      "bearer token GET /metrics asks for (empty: none)"),
    S("myproject.shutdown.request_timeout", Seconds(0), "10",
      "on SIGTERM/SIGINT: longest wait for requests in flight"),
    S("myproject.shutdown.push_timeout", Seconds(0), "5",
      "on SIGTERM/SIGINT: longest wait for pushes waiting or in flight"),
)
del S

#: Keys each push sender needs when ``myproject.push.senders`` lists it.
REQUIRED_FOR_SENDER = {  # a key per platform of PLATFORMS
    "apns": ("myproject.push.apns.key_file", "myproject.push.apns.key_id",
             "myproject.push.apns.team_id", "myproject.push.apns.topic"),
    "fcm": ("myproject.push.fcm.service_account_file",),
}

_BY_KEY = {setting.key: setting for setting in SETTINGS}


class Settings:
    """Parsed values, one attribute per key (see the module doc)."""

    def __init__(self, values):
        self._values = dict(values)
        for key, value in values.items():
            setattr(self, _BY_KEY[key].attribute, value)

    def __getitem__(self, key):
        return self._values[key]

    def __repr__(self):
        return f"<Settings of {len(self._values)} keys>"


def expand_environment(settings, environ, problems):
    """Return a copy of settings with ``${NAME}`` replaced from environ; a
    variable that is not set becomes empty and is added to problems."""

    def replace(key):
        def variable(match):
            name = match.group(1)
            try:
                return environ[name]
            except KeyError:
                problems.append(f"{key}: environment variable {name} is not "
                                "set (the .ini file asks for it)")
                return ""
        return variable

    return {
        key: _VARIABLE.sub(replace(key), value) if isinstance(value, str)
        else value for key, value in settings.items()}


def parse(settings, environ=None):
    """Return (the settings with ``${NAME}`` expanded, their ``Settings``).

    Raises one ConfigurationError listing every problem, each naming its key.
    """
    problems = []
    expanded = expand_environment(
        settings, os.environ if environ is None else environ, problems)
    # A key whose variable is missing has said so: nothing more about it.
    unset = {problem.split(":", 1)[0] for problem in problems}
    values, said = {}, set(unset)
    for setting in SETTINGS:
        try:
            values[setting.key] = setting.parse(expanded.get(setting.key))
        except ValueError as e:
            if setting.key not in unset:
                problems.append(f"{setting.key}: {e}")
            values[setting.key] = None
            said.add(setting.key)
    problems += [problem for problem in _cross_checks(values)
                 if problem.split(" ", 1)[0] not in said]
    problems += _unknown_keys(expanded)
    if problems:
        raise ConfigurationError(_message(problems))
    return expanded, Settings(values)


def _unknown_keys(settings):
    """A ``myproject.`` key this version does not know is a typo (or a
    setting of another version): silently ignored, its default would
    run instead of what the file says."""
    problems = []
    for key in sorted(settings):
        if key.startswith("myproject.") and key not in _BY_KEY:
            close = difflib.get_close_matches(key, _BY_KEY, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{key}: not a setting of this version{hint}; "
                            "docs/settings.txt lists them")
    return problems


def _cross_checks(values):
    problems = []
    page, largest = (values["myproject.sync.page_size"],
                     values["myproject.sync.max_page_size"])
    if page is not None and largest is not None and largest < page:
        problems.append(f"myproject.sync.max_page_size: {largest} is less "
                        f"than myproject.sync.page_size ({page})")
    for sender in values["myproject.push.senders"] or ():
        for key in REQUIRED_FOR_SENDER.get(sender, ()):
            if not values[key]:
                problems.append(f"{key} is required for {sender}")
    return problems


def _message(problems):
    if len(problems) == 1:
        return problems[0]
    return (f"{len(problems)} problems in the settings:\n  "
            + "\n  ".join(problems))


def app_settings(registry):
    """Return the parsed ``Settings`` of the app being configured or run."""
    return registry.myproject_settings


# The table of docs/settings.txt

def table():
    """Return the settings table (reStructuredText) of docs/settings.txt."""
    rows = [("key", "type", "default", "meaning")] + [
        (s.key, s.kind.name, _shown(s.default), s.meaning) for s in SETTINGS]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    rule = "  ".join("=" * w for w in widths) + "  " + "=" * 20

    def line(row):
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)
                         ) + "  " + row[3]

    return "\n".join([rule, line(rows[0]), rule]
                     + [line(row) for row in rows[1:]] + [rule]) + "\n"


def _shown(default):
    if default is None:
        return "(required)"
    return default if default else "(empty)"

