"""The app's request class: pyramid_tm's ``request.tm`` defined on the class.

pyramid_tm adds ``tm`` with ``add_request_method(reify=True)``; Pyramid
applies such a property by making a new class for every request, which
costs more than the rest of a poll's routing.  The same property on the
request class costs nothing per request.  ``includeme`` includes
pyramid_tm and replaces the one with the other: an action of the including
configuration wins over the included one's of the same name.
"""
from pyramid.decorator import reify
from pyramid.request import Request as PyramidRequest
from pyramid_tm import create_tm, explicit_manager


class Request(PyramidRequest):
    @reify
    def tm(self):
        # A method named tm: reify stores its value under the wrapped
        # function's name.
        return create_tm(self)


def includeme(config):
    config.registry.settings.setdefault("tm.manager_hook", explicit_manager)
    config.include("pyramid_tm")
    config.add_request_method(None, "tm")  # pyramid_tm's, made void
    config.set_request_factory(Request)
