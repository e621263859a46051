"""Views: the JSON sync API, errors and the admin pages."""


def includeme(config):
    pass
