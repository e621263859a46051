"""``/@@demo``: a static page mirroring one user's tree live in the
browser with the JavaScript client, which ``/@@gsync.js`` serves (the
module of ``clients/js/``, as it is).  The page reads the user id and a
bearer token from its fragment (``/@@demo#user=alice&token=...``), so
neither is ever sent in a URL the server logs."""
import os

from pyramid.response import FileResponse
from pyramid.view import view_config

from ..resources import Site

_HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(_HERE, "demo.html")
CLIENT = os.path.join(_HERE, os.pardir, os.pardir, "clients", "js",
                      "gsync.js")


@view_config(context=Site, name="demo", request_method="GET")
def demo_page(context, request):
    """Return the demo page."""
    return FileResponse(PAGE, request, content_type="text/html")


@view_config(context=Site, name="gsync.js", request_method="GET")
def gsync_module(context, request):
    """Return the JavaScript client module."""
    return FileResponse(os.path.normpath(CLIENT), request,
                        content_type="text/javascript")
