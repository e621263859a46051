"""Serving with waitress, and ending the same clean way on SIGTERM or SIGINT.

``[server:main]`` of the .ini files says ``use =
call:myproject.shutdown:server_factory``; the other keys are waitress's
(``listen``, ``host``, ``port``, ``threads``, ...).  The server runs
waitress's loop, and on SIGTERM (what systemd and Docker send) or SIGINT
(Ctrl-C) it

1. stops accepting: the listening sockets close, a new connection is
   refused;
2. finishes the requests in flight, their answers sent, for at most
   ``myproject.shutdown.request_timeout`` seconds, and closes idle
   keep-alive connections;
3. stops the push dispatcher: what is waiting is sent, for at most
   ``myproject.shutdown.push_timeout`` seconds, and the dispatcher logs its
   counters (``push dispatcher stopped: {...}``);
4. closes the databases (a FileStorage writes its index, so that the next
   start reads it instead of scanning the file);
5. logs ``stopped`` and returns: pserve exits with status 0.

Waitress's own runner (``egg:waitress#main``) stops its loop at once on
Ctrl-C and not at all on SIGTERM.  The signal handler only sets a flag;
``signal.set_wakeup_fd`` wakes the loop's ``select``.
"""
import logging
import os
import signal
import sys
import time

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from .resources import zodb_databases
from .startup import StartupError

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def server_factory(global_conf, **settings):
    """PasteDeploy's server factory: return ``serve(app)`` for the .ini."""
    def serve_app(app):
        serve(app, **settings)
    return serve_app


class _Wakeup(wasyncore.file_dispatcher):
    """The read end of the signal wake-up pipe, in the server's loop."""

    def readable(self):
        return True

    def writable(self):
        return False

    def handle_read(self):
        try:
            self.recv(512)
        except OSError:
            pass


def serve(app, **settings):
    """Serve app until SIGTERM or SIGINT; then shut down (module doc)."""
    try:
        server = create_server(app, **settings)
    except OSError as exc:  # the address is taken, or not this host's
        close_app(app, push_timeout=0)
        where = settings.get("listen") or (
            f"{settings.get('host', '0.0.0.0')}:{settings.get('port', 8080)}")
        error = StartupError(f"cannot listen on {where}: "
                             f"{exc.strerror or exc}")
        print(error.code, file=sys.stderr)
        logging.shutdown()
        os._exit(1)  # pserve turns SystemExit into "Exiting ..." and status 0
    server.print_listen("Serving on http://{}:{}")
    socket_map = getattr(server, "map", None) or server._map
    adj = server.adj
    signalled = []
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    wakeup = _Wakeup(read_end, socket_map)
    previous_fd = signal.set_wakeup_fd(write_end)
    previous = {signum: signal.signal(
        signum, lambda signum, frame: signalled.append(signum))
        for signum in SIGNALS}
    try:
        while not signalled:
            wasyncore.loop(timeout=adj.asyncore_loop_timeout, map=socket_map,
                           use_poll=adj.asyncore_use_poll, count=1)
        name = signal.Signals(signalled[0]).name
        log.info("%s: stopping (no new connections; finishing requests)",
                 name)
        timeouts = _timeouts(app)
        _stop_accepting(socket_map)
        _finish_requests(server, socket_map, adj, timeouts[0])
        wakeup.close()
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(write_end)
    close_app(app, push_timeout=timeouts[1])
    log.info("stopped")


def _timeouts(app):
    settings = getattr(getattr(app, "registry", None), "myproject_settings",
                       None)
    if settings is None:
        return 10.0, 5.0
    return (settings.shutdown_request_timeout,
            settings.shutdown_push_timeout)


def _stop_accepting(socket_map):
    for dispatcher in list(socket_map.values()):
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.accepting = False
            # The listening socket only: BaseWSGIServer.close would close
            # the trigger too, which the request threads still pull.
            wasyncore.dispatcher.close(dispatcher)


def _busy(channel):
    return bool(channel.requests or channel.total_outbufs_len
                or channel.request is not None)


def _finish_requests(server, socket_map, adj, timeout):
    """Run the loop until no channel has a request or unsent bytes (closing
    idle ones), for at most timeout seconds; then stop the threads."""
    deadline = time.monotonic() + timeout
    while True:
        channels = [c for c in list(socket_map.values())
                    if isinstance(c, HTTPChannel)]
        busy = 0
        for channel in channels:
            if _busy(channel):
                busy += 1
            elif channel.connected:
                channel.handle_close()
        if not busy or time.monotonic() >= deadline:
            break
        wasyncore.loop(timeout=0.05, map=socket_map,
                       use_poll=adj.asyncore_use_poll, count=1)
    if busy:
        log.warning("%d connection(s) still busy after %gs: closing them",
                    busy, timeout)
    server.task_dispatcher.shutdown(
        cancel_pending=True, timeout=max(0.5, deadline - time.monotonic()))
    wasyncore.close_all(socket_map)


def close_app(app, *, push_timeout=5.0):
    """Stop the app's push dispatcher (bounded) and close its databases."""
    registry = getattr(app, "registry", None)
    if registry is None:
        return
    service = getattr(registry, "push_service", None)
    if service is not None:
        service.stop(timeout=push_timeout)
    counter = getattr(registry, "myproject_commit_counter", None)
    if counter is not None:
        from . import changes
        changes.tracker.unsubscribe(counter)
    for name, db in zodb_databases(registry).items():
        try:
            db.close()
        except Exception:
            log.exception("closing the database %r failed", name or "main")
