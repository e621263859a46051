"""A real Pushpin (Debian's ``pushpin``) on loopback in front of a test
server: its own config, routes file and run folder in a temp dir, free
ports, no root needed.  The config is the one docs/webapps.txt shows."""
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from .servers import free_port

PUSHPIN = "/usr/bin/pushpin"

CONFIG = """\
[global]
include=/usr/lib/pushpin/internal.conf
rundir={folder}/run
ipc_prefix=pushpin-
port_offset=0

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:{http_port}
logdir={folder}/log
log_level=2

[proxy]
routesfile={folder}/routes
sig_key=changeme-for-real
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out

[handler]
push_in_spec=tcp://127.0.0.1:{push_in}
push_in_sub_specs=tcp://127.0.0.1:{push_in_sub}
push_in_http_addr=127.0.0.1
push_in_http_port={publish_port}
command_spec=tcp://127.0.0.1:{command}
stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats
"""


class Pushpin:
    """``pushpin`` routing ``*`` to 127.0.0.1:app_port."""

    def __init__(self, folder, app_port):
        self.folder = str(folder)
        self.app_port = app_port
        self.http_port = free_port()
        self.publish_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.publish_url = f"http://127.0.0.1:{self.publish_port}"
        self.process = None

    def start(self, timeout=30, attempts=3):
        """Start pushpin; its internal ports are picked anew when one was
        taken between picking it and pushpin binding it."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except _PortTaken:
                if attempt == attempts - 1:
                    raise

    def _start(self, timeout):
        for sub in ("run", "log"):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        with open(os.path.join(self.folder, "routes"), "w") as f:
            f.write(f"* 127.0.0.1:{self.app_port}\n")
        config = os.path.join(self.folder, "pushpin.conf")
        with open(config, "w") as f:
            f.write(CONFIG.format(
                folder=self.folder, http_port=self.http_port,
                publish_port=self.publish_port, push_in=free_port(),
                push_in_sub=free_port(), command=free_port()))
        self.log_path = os.path.join(self.folder, "pushpin.out")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [PUSHPIN, "--config", config, "--merge-output"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log(4000)
                if "unable to bind" in output:
                    try:  # what it started may still be stopping
                        os.killpg(self.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    raise _PortTaken(output)
                raise RuntimeError(f"pushpin exited: {output}")
            try:  # the publish endpoint and the proxy both answer
                urllib.request.urlopen(self.publish_url + "/", timeout=2)
            except urllib.error.HTTPError:
                pass
            except OSError:
                time.sleep(0.05)
                continue
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pushpin did not start in {timeout}s: {self.log(4000)}")

    def log(self, tail=None):
        """Pushpin's output: all of it, or its last ``tail`` characters."""
        with open(self.log_path, errors="replace") as f:
            text = f.read()
        return text if tail is None else text[-tail:]

    def stop(self):
        """Stop pushpin and the processes it started (its process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class _PortTaken(RuntimeError):
    """Pushpin could not bind a port picked for it: another took it."""
