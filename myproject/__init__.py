"""Generational-set data sync server."""
import os

from pyramid.config import Configurator

from . import settings as app_settings
from .redact import install_log_filter


def main(global_config, **settings):
    """Return the Pyramid WSGI application."""
    install_log_filter()  # tokens out of every line, waitress's too
    settings, parsed = app_settings.parse(settings)
    _ensure_file_storage_folder(parsed.zodbconn_uri)
    with Configurator(settings=settings) as config:
        config.registry.myproject_settings = parsed
        config.include(".request")  # pyramid_tm, request.tm on the class
        config.include("pyramid_retry")
        config.include("pyramid_zodbconn")
        config.include(".resources")
        config.include(".security")
        config.include(".retry")
        config.include(".treelocks")
        config.include("pyramid_jinja2")
        config.include(".admin")
        config.include(".push.wiring")
        config.include(".live")
        config.include(".views")
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
    except Exception:
        for db in zodb_databases(registry).values():
            db.close()
        raise


def _ensure_file_storage_folder(uri):
    """Create the folder of a ``file://`` storage so a fresh checkout starts."""
    if uri.startswith("file://"):
        path = uri[len("file://"):].split("?", 1)[0]
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
