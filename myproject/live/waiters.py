"""Held polls inside this process, for development without Pushpin.

A poll with ``wait`` that finds its client up to date ``enter``s a
``Waiter`` for the user at the client's generation and waits on it, in
its waitress thread, until ``wake`` (called after a commit that changed
the user's tree) says the tree passed that generation, or the wait runs
out.  At most ``max_waiting`` waiters exist at once; ``enter`` returns
None beyond that, and the poll is answered at once: held polls can never
take every thread of the server.
"""
import threading


class Waiter:
    """One held poll: a user, the generation its client holds, an event."""

    __slots__ = ("user_id", "generation", "_event")

    def __init__(self, user_id, generation):
        self.user_id = user_id
        self.generation = generation
        self._event = threading.Event()

    def wait(self, timeout):
        """Return True when woken (the tree passed the generation), False
        when timeout seconds ran out first."""
        return self._event.wait(timeout)


class Waiters:
    """The held polls of one process, bounded in number."""

    def __init__(self, max_waiting):
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._by_user = {}
        self._count = 0

    def __len__(self):
        return self._count

    def enter(self, user_id, generation):
        """Return a new ``Waiter``, or None when max_waiting are held."""
        with self._lock:
            if self._count >= self.max_waiting:
                return None
            waiter = Waiter(user_id, generation)
            self._by_user.setdefault(user_id, set()).add(waiter)
            self._count += 1
            return waiter

    def leave(self, waiter):
        """Forget waiter (woken or not); a no-op the second time."""
        with self._lock:
            held = self._by_user.get(waiter.user_id)
            if held is None or waiter not in held:
                return
            held.discard(waiter)
            if not held:
                del self._by_user[waiter.user_id]
            self._count -= 1

    def wake(self, user_id, generation):
        """Wake the user's waiters whose generation is below generation."""
        with self._lock:
            for waiter in self._by_user.get(user_id, ()):
                if waiter.generation < generation:
                    waiter._event.set()
