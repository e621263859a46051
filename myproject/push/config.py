"""Reading ``myproject.push.*`` settings: typed values, clear errors."""
from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool

PREFIX = "myproject.push."


def text(settings, key, *, required_for=None):
    """Return the stripped string at ``key``, or ``None`` when empty.

    With ``required_for`` (a sender name) an empty value raises
    ``ConfigurationError``.
    """
    value = str(settings.get(key) or "").strip()
    if not value and required_for:
        raise ConfigurationError(f"{key} is required for {required_for}")
    return value or None


def number(settings, key, default, kind=int):
    """Return ``kind(value)`` at ``key`` (``default`` when empty).

    Raises ``ConfigurationError`` for a value that is not a number.
    """
    value = text(settings, key)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigurationError(
            f"{key}: expected a number, got {value!r}") from None


def flag(settings, key, default=False):
    """Return ``asbool`` of the value at ``key`` (``default`` when empty)."""
    value = text(settings, key)
    return default if value is None else asbool(value)


def host_port(settings, key):
    """Return ``(host, port)`` for ``host:port`` (``[v6]:port`` too), or ``None``.

    Raises ``ConfigurationError`` for a value without a numeric port.
    """
    value = text(settings, key)
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigurationError(f"{key}: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)
