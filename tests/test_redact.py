"""Log lines through the redacting filter: tokens out, the rest kept."""
import logging

from myproject.redact import RedactingFilter, redact, redact_path, short_hash

TOKEN = "0123456789abcdef.s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-abc"
PUSH = "ab" * 32


def test_a_waitress_line_with_a_device_path_loses_the_token():
    record = logging.LogRecord(
        "waitress", logging.ERROR, __file__, 1,
        "Exception while serving %s", (f"/users/alice/@@devices/{PUSH}ÿ",),
        None)
    try:
        raise ValueError(f"bad {TOKEN} at /users/alice/@@devices/{PUSH}")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert PUSH not in text and TOKEN not in text
    assert "Exception while serving /users/alice/@@devices/<redacted>" in text
    assert "ValueError" in text


def test_tokens_jwts_and_bearer_values_are_redacted():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    for secret in [TOKEN, jwt, "Bearer whatever-it-is"]:
        assert secret not in redact(f"GET /users/alice?t={secret} from x")
    assert redact("GET /users/alice/messages/m1") == (
        "GET /users/alice/messages/m1")


def test_a_device_path_with_doubled_slashes_loses_the_token():
    line = f"DELETE /users/alice/@@devices//{PUSH} HTTP/1.1"
    assert redact(line) == (
        "DELETE /users/alice/@@devices/<redacted> HTTP/1.1")
    for path in (f"./{PUSH}", f"x/../{PUSH}", f"%2E/{PUSH}"):
        assert redact(f"retrying DELETE /users/a/@@devices/{path}") == (
            "retrying DELETE /users/a/@@devices/<redacted>")


def test_a_decoded_path_loses_all_after_devices():
    """A transaction's note is the decoded path: spaces and quotes too."""
    for token in ["tok with spaces SECRET", "fcm'quote\"SECRET", f"/{PUSH}"]:
        path = f"/users/alice/@@devices/{token}"
        assert redact_path(path) == "/users/alice/@@devices/<redacted>"
    assert redact_path("/users/alice/messages/m 1") == (
        "/users/alice/messages/m 1")


def test_a_short_hash_is_stable_and_short():
    assert short_hash("boss") == short_hash("boss") != short_hash("bos")
    assert len(short_hash("x" * 1000)) == 12
    assert short_hash("x\ud800")  # even for text that is not Unicode
