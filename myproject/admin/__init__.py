"""Admin pages: HTML views on the resources the API uses.

Every page is a view named ``admin`` (or ``admin-<action>`` for a form's
POST) on the resource it shows, so the URL of a page is the API URL of the
thing plus ``/@@admin``:

``/@@admin``                          dashboard
``/@@admin-login``, ``/@@admin-logout``  log in (form), log out (POST)
``/users/@@admin?q=&start=``          users: prefix search, pages in id order
``/users/@@admin-create``             POST: create a user, show its token once
``/users/<id>/@@admin``               a user: tree outline, devices, tokens
``/users/<id>/@@admin-revoke-token``  POST ``token_id``
``/users/<id>/@@admin-remove-device`` POST ``device`` (a hash of the token)
``/users/<id>/@@admin-push``          POST: a test push to the user's devices
``/users/<id>/<set>/.../@@admin``     a set: its members, page by page
``/users/<id>/<set>/<doc>/@@admin``   a document: its JSON, owner, holders
``.../<doc>/@@admin-delete``          POST: delete the document

Only a browser logged in through the login form reaches them: their
permission is ``security.ADMIN_PAGES``, held only by the admin session
principal; a bearer token (even an admin's) is never enough.  A GET without
that login redirects to the login form; a POST gets an HTML 403.  Every form
carries Pyramid's CSRF token: the views have ``require_csrf=True`` (the
JSON API uses bearer tokens, never cookies, and keeps no CSRF check).

Settings: ``myproject.admin.*`` (docs/settings.txt).  Without a username
and password hash, the login form only says that admin login is off.  The
session is ``myproject.security``'s.

The rooms: ``login.py`` (credentials, the throttle, logging in and out,
the pages' HTML errors), ``pages.py`` (the pages and their actions),
``helpers.py`` (the page frame, headers, formatting), ``throttle.py``.
"""
from .helpers import AdminPagePredicate
from .login import credentials_from_settings, throttle_from_settings
from ..settings import app_settings


def includeme(config):
    settings = app_settings(config.registry)
    config.registry.admin_credentials = credentials_from_settings(settings)
    config.registry.login_throttle = throttle_from_settings(settings)
    config.add_view_predicate("admin_page", AdminPagePredicate)
    config.add_static_view("admin-static", "myproject.admin:static",
                           cache_max_age=3600)
    config.scan(".")
