"""Views: the JSON sync API, the users API and JSON errors.

Settings read here:

``myproject.max_body_size``  largest accepted request body in bytes
                             (default 1048576); larger ones get 413
"""


def includeme(config):
    settings = config.registry.settings
    settings["myproject.max_body_size"] = int(
        settings.get("myproject.max_body_size", 1024 * 1024))
    config.scan(".")
