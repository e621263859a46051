"""A view that takes a while, for shutdown tests (``pyramid.includes``).

``GET /slow?marker=PATH`` creates the file PATH when it starts, then
answers ``slow done`` after ``SLOW_SECONDS``.
"""
import time

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

SLOW_SECONDS = 1.5


def slow(request):
    with open(request.params["marker"], "w"):
        pass
    time.sleep(SLOW_SECONDS)
    return Response("slow done")


def includeme(config):
    config.add_route("slow", "/slow", factory=lambda request: None)
    config.add_view(slow, route_name="slow",
                    permission=NO_PERMISSION_REQUIRED)
