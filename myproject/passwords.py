"""Admin password hashes: scrypt with a random 16-byte salt.

``hash_password`` makes the value of ``myproject.admin.password_hash``
(``python -m myproject.scripts.hash_password`` prints one); the admin
login checks a password with ``verify_password``.  The value holds no
``$``, ``%`` or spaces, so it can go into an .ini file or an environment
variable as it is.
"""
import base64
import hashlib
import hmac
import os

SCHEME = "scrypt"
N, R, P = 2 ** 14, 8, 1
KEY_LENGTH = 32


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password, salt, n, r, p):
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r * p + (1 << 20),
                          dklen=KEY_LENGTH)


def hash_password(password, *, n=N, r=R, p=P):
    """Return the encoded scrypt hash of password, with a new random salt."""
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, r, p)
    return f"{SCHEME}:{n}:{r}:{p}:{_b64(salt)}:{_b64(digest)}"


def parse_password_hash(encoded):
    """Return (n, r, p, salt, digest); ValueError if encoded is malformed."""
    parts = encoded.strip().split(":")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError(
            "not a password hash made by python -m myproject.scripts.hash_password")
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2 or n & (n - 1) or n > 2 ** 20 or not 0 < r <= 32 or not 0 < p <= 16:
        raise ValueError("scrypt parameters out of range")
    salt, digest = _unb64(parts[4]), _unb64(parts[5])
    if len(salt) < 8 or len(digest) != KEY_LENGTH:
        raise ValueError("salt or hash of the wrong length")
    return n, r, p, salt, digest


def verify_password(password, encoded):
    """Return whether password matches the encoded hash (constant time)."""
    n, r, p, salt, digest = parse_password_hash(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)
