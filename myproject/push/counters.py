"""What the push dispatcher counts: outcomes per platform, and the last
result of each platform (for ``/__heartbeat__`` and the admin pages).

Request threads (dropped submits) and the dispatcher's loop thread count
at once, so every method takes the lock; reads return new dicts.
"""
import threading
import time

COUNTERS = ("sent", "failed", "retried", "pruned", "dropped")
#: Counted per platform too: the counters, and submits merged into a
#: waiting or in-flight push of the same device.
PLATFORM_COUNTERS = COUNTERS + ("coalesced",)


class Counters:
    def __init__(self, platforms):
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(COUNTERS, 0)
        self._platforms = {platform: dict.fromkeys(PLATFORM_COUNTERS, 0)
                           for platform in platforms}
        self._last_results = {}

    def count(self, name, platform, n=1):
        """Count n for platform (unknown platforms too) and, unless it is
        "coalesced", in the totals; return the new total of name."""
        with self._lock:
            counts = self._platforms.get(platform)
            if counts is None:
                counts = self._platforms[platform] = dict.fromkeys(
                    PLATFORM_COUNTERS, 0)
            counts[name] += n
            if name == "coalesced":
                return None
            self._totals[name] += n
            return self._totals[name]

    def result(self, platform, result):
        """Keep the ``Result`` of platform's latest attempt, with its time."""
        with self._lock:
            self._last_results[platform] = (result, time.time())

    def totals(self):
        with self._lock:
            return dict(self._totals)

    def platform_stats(self):
        with self._lock:
            return {platform: dict(counts)
                    for platform, counts in self._platforms.items()}

    def last_results(self):
        with self._lock:
            return dict(self._last_results)
