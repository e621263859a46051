"""Failed-login throttling: a few tries per client address, then a pause.

The admin login checks a password against an scrypt hash, which is slow on
purpose; without a limit a guesser could still try all day, and keep a core
busy doing it.  ``LoginThrottle`` counts each address's failed logins and
refuses further tries (without checking them) once ``attempts`` failed
within ``window`` seconds, until the oldest of them is ``window`` old.  A
successful login clears the address's count.

The counts live in the process's memory: several processes each keep their
own, and a restart forgets them.  Behind a reverse proxy the client address
is the proxy's unless waitress is told to trust it (``trusted_proxy``).
"""
import collections
import math
import threading
import time

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Counts failed logins per key (a client address); thread-safe."""

    def __init__(self, attempts=5, window=900.0, clock=time.monotonic,
                 max_keys=10000):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures = {}  # key -> deque of failure times, oldest first
        self._lock = threading.Lock()

    def retry_after(self, key):
        """Return 0 if key may try now, else the seconds until it may."""
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return 0
            now = self._clock()
            self._forget_old(failures, now)
            if not failures:
                del self._failures[key]
                return 0
            if len(failures) < self.attempts:
                return 0
            return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, key):
        """Count a failed login; return True if that used the last try."""
        with self._lock:
            now = self._clock()
            failures = self._failures.get(key)
            if failures is None:
                if len(self._failures) >= self._max_keys:
                    self._make_room(now)
                failures = self._failures[key] = collections.deque(
                    maxlen=self.attempts)
            self._forget_old(failures, now)
            failures.append(now)
            return len(failures) >= self.attempts

    def succeeded(self, key):
        """Forget key's failed logins."""
        with self._lock:
            self._failures.pop(key, None)

    def _forget_old(self, failures, now):
        horizon = now - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()

    def _make_room(self, now):
        """Drop the keys with no recent failure, then the oldest keys."""
        horizon = now - self.window
        stale = [key for key, failures in self._failures.items()
                 if not failures or failures[-1] <= horizon]
        for key in stale:
            del self._failures[key]
        # Dicts keep insertion order: the first keys are the oldest.
        while len(self._failures) >= self._max_keys:
            del self._failures[next(iter(self._failures))]
