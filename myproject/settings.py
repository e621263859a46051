"""Settings helpers: ``${NAME}`` expansion from the environment."""
import os
import re

from pyramid.exceptions import ConfigurationError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(settings, environ=None):
    """Return a copy of settings with ``${NAME}`` replaced from the environment.

    Raises ConfigurationError naming the first variable that is not set.
    """
    environ = os.environ if environ is None else environ

    def replace(match):
        name = match.group(1)
        try:
            return environ[name]
        except KeyError:
            raise ConfigurationError(
                f"environment variable {name} is not set "
                "(the .ini file asks for it)") from None

    return {
        key: _VARIABLE.sub(replace, value) if isinstance(value, str) else value
        for key, value in settings.items()
    }
