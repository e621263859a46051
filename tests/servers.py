"""Real ``pserve`` processes (waitress on loopback) for end-to-end tests."""
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
              name="server.ini", log_level="WARN"):
    """Write an .ini for a test server; return (path, port)."""
    port = port or free_port()
    extra = "\n".join(f"{k} = {v}" for k, v in (settings or {}).items())
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(INI_TEMPLATE.format(uri=uri, port=port, threads=threads,
                                    extra=extra, log_level=log_level))
    return path, port


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
