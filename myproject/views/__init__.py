"""Views: the JSON sync API, the users and devices API, JSON errors, and
the poll's shortcut through traversal (``poll.py``)."""
from pyramid.tweens import INGRESS

OUTER_EXCVIEW = "myproject.views.errors.outer_excview_tween_factory"


def includeme(config):
    config.add_tween(OUTER_EXCVIEW, under=INGRESS)
    config.add_tween("myproject.views.poll.poll_tween_factory",
                     under=OUTER_EXCVIEW)
    config.scan(".")
