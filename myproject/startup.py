"""Start-up errors a person can act on: one message, no traceback.

``main`` turns what stops a start (every problem of the settings and the
environment, listed at once by ``settings.parse``; a FileStorage another
process holds) into a ``StartupError``.  It is a ``ConfigurationError``
(what Pyramid raises for a bad configuration) and a ``SystemExit``, so
that ``pserve``, ``pshell`` and every script that loads the app through
PasteDeploy end with just its message on standard error and status 1,
without catching anything themselves.
"""
from pyramid.exceptions import ConfigurationError


class StartupError(ConfigurationError, SystemExit):
    """The app cannot start; the message says why and what to do."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        # What the interpreter prints for an uncaught SystemExit (status 1).
        self.code = f"myproject: cannot start: {message}"

    def __str__(self):
        return self.message


class DatabaseLocked(StartupError):
    """A FileStorage is locked by another process."""


LOCKED = ("the database {path} is locked by a running server: stop it first")
