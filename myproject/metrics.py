"""Prometheus metrics of one process: ``GET /metrics``.

Everything is counted in the one request pipeline: ``metrics_tween``, the
outermost of the app's tweens, sees every request, the poll's shortcut
(``views/poll.py``) included.  Each process counts its own requests and
pushes, exactly; with several processes, scrape each one on its own port
(docs/operations.txt, "Metrics").

Requests
    ``myproject_requests_total{kind, status}`` and
    ``myproject_request_duration_seconds{kind}`` (a histogram, from the
    first attempt to the answer, retries included): ``kind`` is ``poll``
    (a GET or HEAD of a tree, set or document under ``/users/<id>``),
    ``write`` (any other method there, ``@@devices`` too), ``admin`` (``/users`` itself and the ``@@admin`` and
    ``@@push`` pages) or ``other``; ``status`` the class, ``2xx`` ..
    ``5xx``.  An attempt that is retried is not a request of its own.
Polls
    ``myproject_polls_total{answer}``: ``not_modified`` (304),
    ``up_to_date`` (just the generation), ``changes``;
    ``myproject_poll_pages_total`` (a page per answer with updates) and
    ``myproject_poll_documents_total`` (the documents in them).
Writes
    ``myproject_commits_total`` (commits that changed users' trees),
    ``myproject_retries_total{error}`` (attempts retried after a
    ``ConflictError`` or a busy tree lock), ``myproject_busy_total``
    (answers 503), ``myproject_tree_lock_wait_seconds`` (a histogram).
Push
    ``myproject_push_total{platform, outcome}`` with the dispatcher's
    counters (``sent``, ``failed``, ``retried``, ``pruned``, ``dropped``,
    ``coalesced``) and ``myproject_push_queue_depth``, read from the
    dispatcher when scraped.

``myproject.metrics.enabled`` (default true) turns all of it on;
``myproject.metrics.token``, when set, is the bearer token ``/metrics``
asks for (else it needs none).
"""
import hmac
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pyramid.httpexceptions import HTTPUnauthorized
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid_retry import IBeforeRetry, is_error_retryable

from . import changes
from .resources import zodb_database
from .settings import app_settings

TWEEN = "myproject.metrics.metrics_tween_factory"
#: The environ key of a poll's updates (``note_poll``).
POLL_ANSWER = "myproject.poll_answer"
_STARTED = "myproject.started"
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_READS = frozenset(("GET", "HEAD"))
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                   5, 10)


def note_poll(request, updates):
    """Tell the metrics a poll's answer (None: 304); cheap."""
    request.environ[POLL_ANSWER] = updates


def route_kind(method, path):
    """Return ``poll``, ``write``, ``admin`` or ``other`` (module doc)."""
    if path.startswith("/users"):
        if len(path) > 7 and path[6] == "/":
            if "@@admin" in path:
                return "admin"
            if method in _READS:
                return "other" if "/@@" in path else "poll"   # @@devices
            return "write"
        return "admin" if path in ("/users", "/users/") else "other"
    if path.startswith("/@@"):
        return "admin"
    return "other"


def count_documents(updates):
    """Return the number of documents in the JSON updates of a poll."""
    n = 0
    for key in ("adds", "contents"):
        for entry in updates.get(key, ()):
            if "set" in entry:
                n += count_documents(entry)
            else:
                n += 1
    return n


class Metrics:
    """One app's metrics, in a ``CollectorRegistry`` of its own."""

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "myproject_requests", "HTTP requests answered",
            ("kind", "status"), registry=registry)
        self.latency = Histogram(
            "myproject_request_duration_seconds",
            "Seconds from a request's arrival at the app to its answer",
            ("kind",), buckets=LATENCY_BUCKETS, registry=registry)
        self.polls = Counter(
            "myproject_polls", "Poll answers", ("answer",),
            registry=registry)
        self.pages = Counter(
            "myproject_poll_pages", "Poll answers carrying updates (pages)",
            registry=registry)
        self.documents = Counter(
            "myproject_poll_documents", "Documents sent in poll answers",
            registry=registry)
        self.commits = Counter(
            "myproject_commits", "Commits that changed users' trees",
            registry=registry)
        self.retries = Counter(
            "myproject_retries", "Request attempts retried", ("error",),
            registry=registry)
        self.busy = Counter(
            "myproject_busy", "Answers 503 (retries used up, or busy)",
            registry=registry)
        self.tree_lock_wait = Histogram(
            "myproject_tree_lock_wait_seconds",
            "Seconds a write waited for its tree's lock",
            buckets=LATENCY_BUCKETS, registry=registry)
        for answer in ("not_modified", "up_to_date", "changes"):
            self.polls.labels(answer)
        # Children looked up once each (a label lookup costs more than the
        # count), made when first used so that the text shows what happened.
        self._requests = {}
        self._latency = {}
        self._polls = {answer: self.polls.labels(answer)
                       for answer in ("not_modified", "up_to_date",
                                      "changes")}

    def watch_dispatcher(self, dispatcher):
        """Report the push dispatcher's counters when scraped."""
        self.registry.register(_PushCollector(dispatcher))

    def watch_publisher(self, publisher):
        """Report the live publisher's counters (Pushpin) when scraped."""
        self.registry.register(_PublisherCollector(publisher))

    def observe(self, request, status, seconds):
        """Count one answered request."""
        # The raw path: an undecodable one is counted, then refused (400).
        kind = route_kind(request.method, request.environ.get("PATH_INFO", ""))
        cls = _STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]
        child = self._requests.get((kind, cls))
        if child is None:
            child = self._requests[kind, cls] = self.requests.labels(kind, cls)
        child.inc()
        child = self._latency.get(kind)
        if child is None:
            child = self._latency[kind] = self.latency.labels(kind)
        child.observe(seconds)
        if status == 503:
            self.busy.inc()
        if kind == "poll":
            if status == 304:
                self._polls["not_modified"].inc()
            elif status == 200:
                updates = request.environ.get(POLL_ANSWER)
                if updates is not None:
                    self._poll_answered(updates)

    def _poll_answered(self, updates):
        if len(updates) == 1:
            self._polls["up_to_date"].inc()
            return
        self._polls["changes"].inc()
        self.pages.inc()
        self.documents.inc(count_documents(updates))

    def text(self):
        """Return the Prometheus text format of every metric."""
        return generate_latest(self.registry)


class _PushCollector:
    """The dispatcher's counters, read at each scrape."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    def describe(self):
        return []

    def collect(self):
        total = CounterMetricFamily(
            "myproject_push", "Device notifications by outcome",
            labels=("platform", "outcome"))
        for platform, counts in sorted(
                self.dispatcher.platform_stats().items()):
            for outcome, n in counts.items():
                total.add_metric((platform, outcome), n)
        yield total
        depth = GaugeMetricFamily(
            "myproject_push_queue_depth",
            "Device notifications waiting or in flight")
        depth.add_metric((), self.dispatcher.stats()["queue_depth"])
        yield depth


class _PublisherCollector:
    """The live publisher's counters (``myproject.live.grip``), read at
    each scrape: channels published to Pushpin, failed, dropped."""

    def __init__(self, publisher):
        self.publisher = publisher

    def describe(self):
        return []

    def collect(self):
        total = CounterMetricFamily(
            "myproject_live_publish", "Live-update channels sent to Pushpin "
            "by outcome", labels=("outcome",))
        for outcome in ("published", "failed", "dropped"):
            total.add_metric((outcome,), getattr(self.publisher, outcome))
        yield total


def app_metrics(registry):
    """Return the app's ``Metrics``, or None when they are off."""
    return getattr(registry, "myproject_metrics", None)


def metrics_tween_factory(handler, registry):
    metrics = app_metrics(registry)
    if metrics is None:
        return handler
    clock = time.perf_counter
    observe = metrics.observe

    def metrics_tween(request):
        started = request.environ.setdefault(_STARTED, clock())
        try:
            response = handler(request)
        except Exception as exc:
            if not is_error_retryable(request, exc):
                observe(request, 500, clock() - started)
            raise
        exc = getattr(request, "exception", None)
        if exc is None or not is_error_retryable(request, exc):
            observe(request, response.status_code, clock() - started)
        return response

    return metrics_tween


def metrics_view(request):
    metrics = app_metrics(request.registry)
    token = app_settings(request.registry).metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                detail="send Authorization: Bearer <myproject.metrics.token>")
    return Response(body=metrics.text(), content_type=None, headerlist=[
        ("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")])


class _CommitCounter:
    """Counts the commits of one database that changed users' trees."""

    def __init__(self, db, counter):
        self.db = db
        self.counter = counter

    def __call__(self, roots):
        for root in roots:
            jar = root._p_jar
            if jar is not None and jar.db() is self.db:
                self.counter.inc()
                return


def _no_root(request):
    return None


def includeme(config):
    """Count (when ``myproject.metrics.enabled``) and serve ``/metrics``.

    Include it after ``push.wiring`` and ``logs``, before the views."""
    registry = config.registry
    if not app_settings(registry).metrics_enabled:
        registry.myproject_metrics = None
        return
    disable_created_metrics()  # no *_created series: they only add lines
    metrics = registry.myproject_metrics = Metrics()
    dispatcher = getattr(registry, "push_dispatcher", None)
    if dispatcher is not None:
        metrics.watch_dispatcher(dispatcher)
    live = getattr(registry, "live_service", None)
    if live is not None and live.publisher is not None:
        metrics.watch_publisher(live.publisher)
    changes.install()
    counter = registry.myproject_commit_counter = _CommitCounter(
        zodb_database(registry), metrics.commits)
    changes.tracker.subscribe(counter)

    def count_retry(event):
        metrics.retries.labels(event.exception.__class__.__name__).inc()

    config.add_subscriber(count_retry, IBeforeRetry)
    # Under CORS: a preflight CORS answers itself is not an API request.
    config.add_tween(TWEEN, under="myproject.cors.cors_tween_factory",
                     over="myproject.views.errors.outer_excview_tween_factory")
    config.add_route("metrics", "/metrics", factory=_no_root)
    config.add_view(metrics_view, route_name="metrics",
                    request_method=("GET", "HEAD"),
                    permission=NO_PERMISSION_REQUIRED)
