"""Real ``pserve`` processes (waitress on loopback) for end-to-end tests."""
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

INI_TEMPLATE = """\
[app:main]
use = egg:myproject
zodbconn.uri = {uri}
retry.attempts = 5
myproject.user_sets = messages tasks
{extra}

[server:main]
use = call:myproject.shutdown:server_factory
listen = 127.0.0.1:{port}
threads = {threads}
{server_extra}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = {log_level}
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_ini(folder, uri, *, port=None, threads=8, settings=None,
              server_settings=None, name="server.ini", log_level="WARN"):
    """Write an .ini for a test server; return (path, port).

    ``settings`` go to ``[app:main]``, ``server_settings`` (waitress's
    options) to ``[server:main]``.
    """
    port = port or free_port()
    extra = "\n".join(f"{k} = {v}" for k, v in (settings or {}).items())
    server_extra = "\n".join(
        f"{k} = {v}" for k, v in (server_settings or {}).items())
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(INI_TEMPLATE.format(uri=uri, port=port, threads=threads,
                                    extra=extra, server_extra=server_extra,
                                    log_level=log_level))
    return path, port


def add_user(ini, user_id, *flags):
    """``myproject-admin ini add-user user_id``; return the token printed."""
    from myproject.scripts import admin
    out = io.StringIO()
    status = admin.main([ini, "add-user", user_id, *flags], out=out)
    assert status == 0, status
    return out.getvalue().strip()


class Server:
    """A ``pserve`` child process serving an .ini on 127.0.0.1."""

    def __init__(self, ini, port, log_path=None):
        self.ini = ini
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path or ini + ".log"
        self.process = None

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyramid.scripts.pserve", self.ini],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pserve exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pserve did not answer in {timeout}s: {self.log()}")

    def log(self, tail=4000):
        """The server's output: its last ``tail`` characters, or all."""
        with open(self.log_path, errors="replace") as f:
            text = f.read()
        return text if tail is None else text[-tail:]

    def kill(self):
        """SIGKILL the server: no clean shutdown at all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def raw_request(port, method, target, headers=(), body=b"", timeout=10):
    """Send one HTTP/1.1 request exactly as given (target as bytes or str,
    unchecked); return (status, {lowercased name: value}, body bytes)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1",
             b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in headers:
        if isinstance(value, str):
            value = value.encode("latin-1")
        lines.append(name.encode("ascii") + b": " + value)
    if body or method not in ("GET", "HEAD"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (and closed) before all was sent: read that
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            if not chunks:
                raise
    answer = b"".join(chunks)
    head, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), found, rest
