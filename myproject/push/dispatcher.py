"""The push dispatcher: one daemon thread running an asyncio loop.

Request threads call ``submit()`` after a commit; it never blocks and never
raises.  Submits for one user within ``coalesce_window`` seconds of the
first one merge (the latest generation wins), then every device of the
user gets one push.  Each (user, device) has at most one delivery in
flight: a newer generation arriving while a push is being sent or waiting
to be retried rides along (the next attempt carries it, or one more push
follows a success).  So a device never receives an older generation after
a newer one from this process.

Outcomes (``Result.outcome``, see ``sender.py``): SENT; PRUNE calls the
app's ``prune(user_id, device)`` in a worker thread (it opens a ZODB
transaction); RETRY waits with exponential backoff and full jitter (never
less than a Retry-After) up to ``max_attempts`` attempts in all; FAIL gives
up.  A sender that raises, or hangs past ``send_timeout`` (unless it has a
``timeout`` of its own), is an outcome too, never the end of the thread.

``queue_size`` bounds the device notifications waiting or in flight; a
submit that would pass it is dropped (counted and logged), except that a
submit merging into a user's waiting one always merges.
"""
import asyncio
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from .backoff import backoff_delay
from .counters import Counters
from .sender import Device, Outcome, Result, within

logger = logging.getLogger(__name__)


class _Pending:
    """A user's submits waiting for the coalescing window to close."""

    __slots__ = ("generation", "devices")

    def __init__(self, generation, devices):
        self.generation = generation
        self.devices = devices


class _Delivery:
    """The push in flight to one device of one user."""

    __slots__ = ("user_id", "device", "generation")

    def __init__(self, user_id, device, generation):
        self.user_id = user_id
        self.device = device
        self.generation = generation


class Dispatcher:
    """Sends silent pushes from a background thread; see the module doc.

    ``senders`` maps a device platform to its ``ISender``.  ``prune`` is
    called as ``prune(user_id, device)`` off the loop for dead tokens.
    """

    #: Seconds between two INFO lines with the counters (when they changed).
    LOG_INTERVAL = 300.0
    #: Seconds between two warnings about dropped submits.
    DROP_LOG_INTERVAL = 10.0

    def __init__(self, senders, *, prune=None, coalesce_window=0.05,
                 queue_size=10000, max_attempts=5, backoff_base=0.5,
                 backoff_max=30.0, send_timeout=10.0):
        if coalesce_window < 0:
            raise ValueError("coalesce_window must be >= 0")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if send_timeout <= 0:
            raise ValueError("send_timeout must be > 0")
        self._senders = dict(senders)
        self._prune = prune
        self._window = coalesce_window
        self._queue_size = queue_size
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._send_timeout = send_timeout

        # Shared with submitting threads, guarded by _lock.
        self._lock = threading.Lock()
        self._accepting = False
        self._pending = {}
        self._arrivals = []
        self._wakeup_scheduled = False
        self._depth = 0
        self._counters = Counters(self._senders)
        self._last_drop_log = None

        # Owned by the loop thread once started.
        self._loop = None
        self._thread = None
        self._ready = threading.Event()
        self._stop_requested = None
        self._stop_timeout = 0.0
        self._timers = {}
        self._deliveries = {}
        self._tasks = set()
        self._prune_executor = None

    def __repr__(self):
        return f"<Dispatcher platforms={sorted(self._senders)} {self.stats()}>"

    # -- any thread ---------------------------------------------------------

    def start(self):
        """Start the dispatcher thread; return once it accepts submits.

        Raises ``RuntimeError`` if started before or if the loop does not
        come up within 5 seconds.
        """
        if self._thread is not None:
            raise RuntimeError("a dispatcher starts once")
        self._loop = asyncio.new_event_loop()
        self._prune_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="push-prune")
        self._thread = threading.Thread(
            target=self._run, name="push-dispatcher", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the push dispatcher thread did not start")
        with self._lock:
            self._accepting = True
        logger.info("push dispatcher started (platforms: %s)", ", ".join(
            platform if getattr(sender, "name", platform) == platform
            else f"{platform} ({sender.name} only)"
            for platform, sender in sorted(self._senders.items())) or "none")

    def stop(self, timeout=5):
        """Stop accepting, send what is waiting (windows cut short), give
        deliveries up to ``timeout`` seconds, then cancel the rest (counted
        as dropped), close the senders and end the thread.  Idempotent."""
        with self._lock:
            was_accepting, self._accepting = self._accepting, False
        if not was_accepting or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._request_stop, timeout)
        self._thread.join(timeout + 5)
        if self._thread.is_alive():
            logger.error("push dispatcher thread did not end in time")

    def submit(self, user_id, generation, devices):
        """Queue a push of ``generation`` to ``devices`` of ``user_id``.

        Non-blocking and thread-safe; never raises.  Dropped (and counted)
        when the dispatcher is not running or the queue is full.
        """
        try:
            devices = tuple(devices)
            if not devices:
                return
            if not all(isinstance(d, Device) for d in devices):
                raise TypeError("devices must be Device instances")
            deadline = time.monotonic() + self._window
            with self._lock:
                if not self._accepting:
                    reason = "the dispatcher is not running"
                else:
                    reason = self._enqueue(user_id, generation, devices,
                                           deadline)
                if reason is None:
                    return
                for device in devices:
                    dropped = self._counters.count("dropped", device.platform)
                now = time.monotonic()
                log_it = (self._last_drop_log is None or
                          now - self._last_drop_log >= self.DROP_LOG_INTERVAL)
                if log_it:
                    self._last_drop_log = now
            if log_it:
                logger.warning(
                    "push for user %s dropped: %s (%d dropped so far)",
                    user_id, reason, dropped)
        except Exception:
            logger.exception("push submit failed for user %s", user_id)

    @property
    def senders(self):
        """Return a copy of the platform -> sender mapping."""
        return dict(self._senders)

    def stats(self):
        """Return the counters and ``queue_depth`` as a new dict."""
        stats = self._counters.totals()
        with self._lock:
            stats["queue_depth"] = self._depth
        return stats

    def platform_stats(self):
        """Return {platform: {counter: n}} (``PLATFORM_COUNTERS``), new dicts."""
        return self._counters.platform_stats()

    def last_results(self):
        """Return {platform: (its last attempt's ``Result``, its
        ``time.time()``)} for the platforms that attempted a push."""
        return self._counters.last_results()

    def alive(self):
        """Return whether the thread runs and accepts submits."""
        with self._lock:
            accepting = self._accepting
        return (accepting and self._thread is not None
                and self._thread.is_alive())

    def _enqueue(self, user_id, generation, devices, deadline):
        """Merge or add a submit; return why it is dropped, or None.  Holds _lock."""
        pending = self._pending.get(user_id)
        if pending is not None:
            for device in devices:
                self._counters.count("coalesced", device.platform)
            if generation >= pending.generation:
                self._depth += len(devices) - len(pending.devices)
                pending.generation = generation
                pending.devices = devices
            return None
        if self._depth + len(devices) > self._queue_size:
            return f"queue full ({self._queue_size})"
        self._pending[user_id] = _Pending(generation, devices)
        self._depth += len(devices)
        self._arrivals.append((user_id, deadline))
        if not self._wakeup_scheduled:
            # One wake-up per batch: a burst of submits costs one syscall.
            self._wakeup_scheduled = True
            self._loop.call_soon_threadsafe(self._take_arrivals)
        return None

    def _count(self, name, platform):
        self._counters.count(name, platform)

    # -- the loop thread ----------------------------------------------------

    def _run(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            logger.exception("push dispatcher loop failed")
        finally:
            self._prune_executor.shutdown(wait=False, cancel_futures=True)
            leftovers = asyncio.all_tasks(self._loop)
            for task in leftovers:
                task.cancel()
            self._loop.run_until_complete(
                asyncio.gather(*leftovers, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _main(self):
        self._stop_requested = asyncio.Event()
        self._ready.set()
        reporter = asyncio.ensure_future(self._report_periodically())
        await self._stop_requested.wait()
        reporter.cancel()
        await self._drain(self._stop_timeout)
        closing = {id(s): s for s in self._senders.values()}.values()
        for sender in closing:
            try:
                await asyncio.wait_for(sender.close(), 2)
            except Exception:
                logger.exception("push sender %s did not close cleanly",
                                 getattr(sender, "name", sender))
        # Let transports closed above finish their callbacks.
        await asyncio.sleep(0)
        logger.info("push dispatcher stopped: %s", self.stats())

    def _request_stop(self, timeout):
        self._stop_timeout = timeout
        self._stop_requested.set()

    async def _drain(self, timeout):
        deadline = self._loop.time() + timeout
        self._take_arrivals()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        with self._lock:
            waiting = list(self._pending)
        for user_id in waiting:
            self._flush(user_id)
        tasks = set(self._tasks)
        if tasks:
            _, late = await asyncio.wait(
                tasks, timeout=max(0.0, deadline - self._loop.time()))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if late:
                logger.warning("push: %d deliveries cancelled at shutdown",
                               len(late))

    async def _report_periodically(self):
        last = None
        while True:
            await asyncio.sleep(self.LOG_INTERVAL)
            stats = self.stats()
            if stats != last:
                logger.info("push stats: %s", stats)
                last = stats

    def _take_arrivals(self):
        """Start the window of every user that arrived since the last call."""
        with self._lock:
            arrivals, self._arrivals = self._arrivals, []
            self._wakeup_scheduled = False
        for user_id, deadline in arrivals:
            if self._window == 0:
                self._flush(user_id)
            else:
                self._timers[user_id] = self._loop.call_at(
                    deadline, self._flush, user_id)

    def _flush(self, user_id):
        """Turn a user's waiting submits into one delivery per device."""
        self._timers.pop(user_id, None)
        with self._lock:
            pending = self._pending.pop(user_id, None)
        if pending is None:
            return
        merged = 0
        for device in pending.devices:
            key = (user_id, device)
            delivery = self._deliveries.get(key)
            if delivery is not None:
                delivery.generation = max(delivery.generation,
                                          pending.generation)
                merged += 1
                self._counters.count("coalesced", device.platform)
                continue
            delivery = self._deliveries[key] = _Delivery(
                user_id, device, pending.generation)
            task = self._loop.create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if merged:
            with self._lock:
                self._depth -= merged

    async def _deliver(self, delivery):
        """Push to one device until sent, pruned, given up or cancelled."""
        user_id, device = delivery.user_id, delivery.device
        try:
            sender = self._senders.get(device.platform)
            if sender is None:
                logger.warning("push: no sender for platform %r (user %s)",
                               device.platform, user_id)
                self._count("failed", device.platform)
                return
            attempt = 0
            while True:
                generation = delivery.generation
                attempt += 1
                result = await self._attempt(sender, user_id, generation,
                                             device)
                self._counters.result(device.platform, result)
                outcome = result.outcome
                if outcome is Outcome.SENT:
                    self._count("sent", device.platform)
                    logger.debug("push sent: user %s generation %d to %r",
                                 user_id, generation, device)
                    if delivery.generation > generation:
                        attempt = 0
                        continue
                    return
                if outcome is Outcome.PRUNE:
                    await self._prune_device(user_id, device, result)
                    return
                if outcome is Outcome.RETRY and self._may_retry(
                        attempt, result, user_id, device):
                    self._count("retried", device.platform)
                    await asyncio.sleep(backoff_delay(
                        attempt, base=self._backoff_base,
                        cap=self._backoff_max,
                        retry_after=result.retry_after))
                    continue
                if outcome is not Outcome.RETRY:
                    logger.warning(
                        "push to %r of user %s failed: %s %s; giving up",
                        device, user_id, result.status, result.reason)
                self._count("failed", device.platform)
                return
        except asyncio.CancelledError:
            self._count("dropped", device.platform)
            raise
        except Exception:
            logger.exception("push delivery to %r of user %s failed",
                             device, user_id)
            self._count("failed", device.platform)
        finally:
            del self._deliveries[(user_id, device)]
            with self._lock:
                self._depth -= 1

    def _may_retry(self, attempt, result, user_id, device):
        """Return whether a transient failure gets another attempt (logs why not)."""
        if attempt >= self._max_attempts:
            logger.warning(
                "push to %r of user %s failed %d times (last: %s %s); "
                "giving up", device, user_id, attempt, result.status,
                result.reason)
            return False
        if result.retry_after is not None and \
                result.retry_after > self._backoff_max:
            logger.warning(
                "push to %r of user %s: service asks to retry after %gs, "
                "more than backoff_max %gs; giving up", device, user_id,
                result.retry_after, self._backoff_max)
            return False
        return True

    async def _attempt(self, sender, user_id, generation, device):
        """Return the ``Result`` of one send; exceptions become results."""
        try:
            sending = sender.send(user_id, generation, device)
            if getattr(sender, "timeout", None) is None:
                return await within(self._send_timeout, sending)
            return await sending        # the sender bounds its own sends
        except asyncio.TimeoutError:
            return Result(Outcome.RETRY, None, "timeout")
        except OSError as exc:
            return Result(Outcome.RETRY, None, type(exc).__name__)
        except Exception as exc:
            logger.error(
                "push sender %s raised for user %s, device %r:\n%s",
                getattr(sender, "name", sender), user_id, device,
                _scrubbed(exc, device.token))
            return Result(Outcome.FAIL, None, type(exc).__name__)

    async def _prune_device(self, user_id, device, result):
        logger.info("push: device %r of user %s is gone (%s %s); pruning",
                    device, user_id, result.status, result.reason)
        if self._prune is not None:
            try:
                await self._loop.run_in_executor(
                    self._prune_executor, self._prune, user_id, device)
            except Exception as exc:
                logger.error("push: pruning %r of user %s failed:\n%s",
                             device, user_id, _scrubbed(exc, device.token))
                self._count("failed", device.platform)
                return
        self._count("pruned", device.platform)


def _scrubbed(exc, token):
    """Return the formatted traceback of ``exc`` with ``token`` masked."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    return text.replace(token, "<token>") if token else text
