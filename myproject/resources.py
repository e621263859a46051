"""Resources: the traversal tree the views are registered on."""
from persistent import Persistent
from pyramid_zodbconn import get_connection

APP_ROOT_NAME = "myproject"


class Site(Persistent):
    """The application root."""

    __name__ = ""
    __parent__ = None


def root_factory(request):
    """Return the Site, creating it on first use (pyramid_tm commits)."""
    zodb_root = get_connection(request).root()
    site = zodb_root.get(APP_ROOT_NAME)
    if site is None:
        site = zodb_root[APP_ROOT_NAME] = Site()
    return site


def includeme(config):
    config.set_root_factory(root_factory)
