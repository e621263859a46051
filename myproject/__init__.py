"""Generational-set data sync server."""
import os
import re
import urllib.parse

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from zc.lockfile import LockError

from . import logs
from . import settings as app_settings
from .redact import install_log_filter
from .startup import LOCKED, DatabaseLocked, StartupError


def main(global_config, **settings):
    """Return the Pyramid WSGI application.

    Raises ``StartupError`` (a ``ConfigurationError``) naming every
    problem of the settings, the locked database, or a database that needs
    ``myproject-admin <ini> evolve``."""
    install_log_filter()  # tokens out of every line, waitress's too
    logs.install_record_factory()  # a request_id on every record
    try:
        settings, parsed = app_settings.parse(settings)
    except ConfigurationError as exc:
        raise StartupError(str(exc)) from None
    _ensure_file_storage_folder(parsed.zodbconn_uri)
    with Configurator(settings=settings) as config:
        config.registry.myproject_settings = parsed
        config.include(".request")  # pyramid_tm, request.tm on the class
        config.include("pyramid_retry")
        try:
            config.include("pyramid_zodbconn")
        except LockError:
            raise DatabaseLocked(LOCKED.format(
                path=_file_storage_path(parsed.zodbconn_uri) or "")) from None
        except Exception as exc:  # zodburi's, the OS's, the database's
            uri = parsed.zodbconn_uri
            reason = _reason(exc).replace(uri, _shown(uri))  # zodburi's has it
            raise StartupError(
                f"cannot open the database {_shown(uri)}: "
                f"{reason}{_HINTS.get(type(exc).__name__, '')}") from None
        config.include(".resources")
        config.include(".security")
        config.include(".retry")
        config.include(".treelocks")
        config.include("pyramid_jinja2")
        config.include(".admin")
        config.include(".push.wiring")
        config.include(".live")
        config.include(".logs")
        config.include(".metrics")
        config.include(".views")
        config.include(".health")
    app = config.make_wsgi_app()
    if not global_config.get("myproject.evolving"):
        _check_layout(config.registry, global_config)
    return app


def _check_layout(registry, global_config):
    """Refuse a database an earlier version wrote until it is evolved."""
    from .evolve import check
    from .resources import zodb_databases
    ini = os.path.basename(global_config.get("__file__") or "<ini file>")
    try:
        check(zodb_databases(registry)[""], ini)
    except ConfigurationError as exc:
        for db in zodb_databases(registry).values():
            db.close()
        raise StartupError(str(exc)) from None


def _file_storage_path(uri):
    """Return the path of a ``file://`` storage URI, else None."""
    if uri.startswith("file://"):
        return uri[len("file://"):].split("?", 1)[0]
    return None


def _ensure_file_storage_folder(uri):
    """Create the folder of a ``file://`` storage so a fresh checkout starts."""
    path = _file_storage_path(uri)
    if path:
        folder = os.path.dirname(path)
        if folder:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise StartupError(
                    f"cannot make the database's folder {folder}: "
                    f"{_reason(exc)}") from None


_HINTS = {
    "NoResolverForScheme": " (zodbconn.uri takes file://, zeo://, "
                           "postgres:// or memory://: docs/settings.txt)",
}


def _shown(uri):
    """The URI as a message may show it: no password (``user:pw@``, or
    zeo://'s ``password=``), and nothing at all if it does not parse."""
    try:
        parts = urllib.parse.urlsplit(uri)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        return "(zodbconn.uri: it does not parse as a URI)"
    query = re.sub(r"(?i)((?:^|&)password=)[^&]*", r"\1***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def _reason(exc):
    """An exception as one line: its class and the first line it says."""
    text = (getattr(exc, "strerror", None) if isinstance(exc, OSError)
            else None) or str(exc).strip().splitlines()[0:1]
    if isinstance(text, list):
        text = text[0] if text else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
