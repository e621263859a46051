"""What a log line may say about a secret: nothing, or a short hash.

Bearer tokens (``<token id>.<secret>``), JWTs and push tokens can appear in
a request's path (``/users/<id>/@@devices/<push token>``, a token pasted
into a URL by mistake), and so in any line that names the path: the app's
own, and waitress's and Pyramid's (``Exception while serving <path>``,
``debug_authorization`` lines).  The app's lines name paths through
``redact``; ``install_log_filter`` makes every handler of the root logger
pass its records through ``redact`` as well, for the lines the app does not
write.  What an admin typed as a login name is logged as ``short_hash``:
a password typed into the wrong field must not be logged either.
"""
import hashlib
import logging
import re

SHORT_HASH_LENGTH = 12
REDACTED = "<redacted>"

_PATTERNS = [
    # A device token: the rest of the path (``./token``, ``x/../token``
    # and ``//token`` reach it too).
    (re.compile(r"(@@devices/)[^?#\s'\"]+"), r"\1" + REDACTED),
    # A JWT: three base64url parts, the first a JSON header ("eyJ").
    (re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*"), REDACTED),
    # This server's bearer tokens: 16 hex digits, a dot, the secret.
    (re.compile(r"\b[0-9a-f]{16}\.[\w-]{8,}"), REDACTED),
    # Whatever follows "Bearer".
    (re.compile(r"(?i)(bearer\s+)[^\s'\"]+"), r"\1" + REDACTED),
]


def redact(text):
    """Return text with tokens, token secrets and push tokens replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_path(path):
    """Return a request path (decoded: it may hold spaces and quotes) with
    everything after ``@@devices/`` redacted, then as ``redact`` does."""
    return redact(_DEVICE_PATH.sub(r"\1" + REDACTED, path))


_DEVICE_PATH = re.compile(r"(@@devices/).+", re.DOTALL)


def short_hash(text):
    """Return a short, stable, non-reversible tag for text in a log line."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[
        :SHORT_HASH_LENGTH]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) through ``redact``."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as is
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(
                record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_filter(logger=None):
    """Add a RedactingFilter to every handler of logger (the root logger:
    pserve configures logging before it loads the app), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
