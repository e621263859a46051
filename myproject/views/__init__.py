"""Views: the JSON sync API, the users and devices API, JSON errors, and
the poll's shortcut through traversal (``poll.py``)."""
from pyramid.tweens import INGRESS

LAST_RESORT = "myproject.views.errors.last_resort_tween_factory"
OUTER_EXCVIEW = "myproject.views.errors.outer_excview_tween_factory"
PATH_CHECK = "myproject.views.errors.path_check_tween_factory"


def includeme(config):
    config.add_tween(LAST_RESORT, under=INGRESS)
    config.add_tween(OUTER_EXCVIEW, under=LAST_RESORT)
    config.add_tween(PATH_CHECK, under=OUTER_EXCVIEW,
                     over="myproject.treelocks.tree_lock_tween_factory")
    config.add_tween("myproject.views.poll.poll_tween_factory",
                     under=PATH_CHECK)
    config.scan(".")
