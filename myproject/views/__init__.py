"""Views: the JSON sync API, the users and devices API, JSON errors, and
the poll's shortcut through traversal (``poll.py``).

The app's own tweens, outermost first: CORS (``myproject.cors``), the
exception views for what fails above pyramid_tm (``errors.py``), held
polls (``myproject.live.tween``), the poll's shortcut (``poll.py``).
"""
from pyramid.tweens import INGRESS

CORS = "myproject.cors.cors_tween_factory"
OUTER_EXCVIEW = "myproject.views.errors.outer_excview_tween_factory"
LIVE = "myproject.live.tween.live_tween_factory"


def includeme(config):
    config.add_tween(CORS, under=INGRESS)
    config.add_tween(OUTER_EXCVIEW, under=CORS)
    config.add_tween(LIVE, under=OUTER_EXCVIEW)
    config.add_tween("myproject.views.poll.poll_tween_factory",
                     under=LIVE)
    config.scan(".")
