"""Generational-set data sync server."""
import os

from pyramid.config import Configurator

from . import polls
from .settings import expand_environment


def main(global_config, **settings):
    """Return the Pyramid WSGI application."""
    settings = expand_environment(settings)
    _ensure_file_storage_folder(settings.get("zodbconn.uri", ""))
    with Configurator(settings=settings) as config:
        config.include("pyramid_tm")
        config.include("pyramid_retry")
        config.include("pyramid_zodbconn")
        config.include(".resources")
        config.include(".security")
        config.include(".tweens")
        config.include("pyramid_jinja2")
        config.include(".views.admin")
        config.include(".notifications")
        config.include(".views")
    return polls.wrap(config.make_wsgi_app())


def _ensure_file_storage_folder(uri):
    """Create the folder of a ``file://`` storage so a fresh checkout starts."""
    if uri.startswith("file://"):
        path = uri[len("file://"):].split("?", 1)[0]
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
