"""Generational-set data sync server."""
import os

from pyramid.config import Configurator

from . import settings as app_settings


def main(global_config, **settings):
    """Return the Pyramid WSGI application."""
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
        config.include(".metrics")
        config.include(".views")
        config.include(".health")
    return config.make_wsgi_app()


def _ensure_file_storage_folder(uri):
    """Create the folder of a ``file://`` storage so a fresh checkout starts."""
    if uri.startswith("file://"):
        path = uri[len("file://"):].split("?", 1)[0]
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
