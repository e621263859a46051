"""A view that takes a while, for shutdown tests (``pyramid.includes``).

``GET /slow?marker=PATH`` logs ``slow request started``, creates the file
PATH, then answers ``slow done`` after ``SLOW_SECONDS`` (or ``seconds``).
"""
import logging
import time

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

SLOW_SECONDS = 1.5
log = logging.getLogger(__name__)


def slow(request):
    log.info("slow request started")
    with open(request.params["marker"], "w"):
        pass
    time.sleep(float(request.params.get("seconds", SLOW_SECONDS)))
    return Response("slow done")


def includeme(config):
    config.add_route("slow", "/slow", factory=lambda request: None)
    config.add_view(slow, route_name="slow",
                    permission=NO_PERMISSION_REQUIRED)
