"""Views: the JSON sync API, the users and devices API, JSON errors, and
the poll's shortcut through traversal (``poll.py``).

The app's own tweens, outermost first: a last-resort JSON 500, CORS
(``myproject.cors``), the exception views for what fails above pyramid_tm
(``errors.py``), the refusal of undecodable paths, held polls
(``myproject.live.tween``), the poll's shortcut (``poll.py``).
"""
from pyramid.tweens import INGRESS

LAST_RESORT = "myproject.views.errors.last_resort_tween_factory"
CORS = "myproject.cors.cors_tween_factory"
OUTER_EXCVIEW = "myproject.views.errors.outer_excview_tween_factory"
PATH_CHECK = "myproject.views.errors.path_check_tween_factory"
LIVE = "myproject.live.tween.live_tween_factory"


def includeme(config):
    # Outermost first: a JSON 500 should an exception view itself fail;
    # CORS headers on every answer, errors included; the JSON error views;
    # undecodable paths refused before anything reads them; held polls;
    # the poll's shortcut.
    config.add_tween(LAST_RESORT, under=INGRESS)
    config.add_tween(CORS, under=LAST_RESORT)
    config.add_tween(OUTER_EXCVIEW, under=CORS)
    config.add_tween(PATH_CHECK, under=OUTER_EXCVIEW,
                     over="myproject.treelocks.tree_lock_tween_factory")
    config.add_tween(LIVE, under=PATH_CHECK)
    config.add_tween("myproject.views.poll.poll_tween_factory",
                     under=LIVE)
    config.scan(".")
