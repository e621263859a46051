"""The JavaScript client (clients/js): its node tests, and the module against
a real pserve, from Node and from a real Chromium with IndexedDB."""
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from myproject.client import SyncClient

from .servers import Server, write_ini
from .test_live import add_user

TOP = pathlib.Path(__file__).resolve().parents[1]
JS = TOP / "clients" / "js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-sync"]


def node():
    path = shutil.which("node")
    if path is None:
        pytest.fail("node (Node.js 20 or later) is not on PATH: "
                    "apt-get install nodejs (.ci/run does)")
    return path


def test_node_tests_pass():
    result = subprocess.run(
        [node(), "--test", "clients/js/test/"], cwd=TOP,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert "# fail 0" in result.stdout
    # Every vector ran: the node runner reports one test per vector.
    vectors = json.loads((JS / "test" / "vectors.json").read_text())["vectors"]
    passed = int(result.stdout.split("# pass ")[1].split()[0])
    assert passed > len(vectors)


@pytest.fixture
def live(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          settings={"myproject.push.senders": "log"})
    token = add_user(ini, "alice")
    server = Server(ini, port).start()
    yield server, token
    server.stop()


def test_js_mirrors_equal_the_python_clients_through_a_real_server(live):
    server, token = live
    env = dict(os.environ, GSYNC_URL=server.url, GSYNC_USER="alice",
               GSYNC_TOKEN=token)
    result = subprocess.run(
        [node(), "tests/js/mirror.mjs"], cwd=TOP, env=env,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + server.log()
    out = json.loads(result.stdout)
    python = SyncClient(server.url, "alice", token)
    python.sync()
    assert out["writer"] == python.state
    assert out["reader"] == python.state
    messages = python.state["contents"]["messages"]
    assert set(messages) == {"m1", "__proto__", out["assigned"]}
    assert messages["m1"] == {"id": "m1", "text": "replaced"}
    assert python.state["contents"]["tasks"]["work"]["w 1"] == {
        "id": "w 1", "done": True, "note": "merge-patched"}
    assert "w 3" not in python.state["contents"]["tasks"]["work"]
    assert "trash" not in python.state["contents"]
    assert out["conflict"]["status"] == 409
    assert out["conflict"]["error"] == "conflict"
    progress = out["progress"]
    assert progress[-1] == {"generation": python.generation, "more": False,
                            "tree": python.generation}
    assert all(page["more"] for page in progress[:-1])
    assert len(progress) > 1
    assert all(page["generation"] < page["tree"] == python.generation
               for page in progress[:-1])
    assert out["secondSync"] == [["GET", 304]]


class StaticAndProxy(http.server.SimpleHTTPRequestHandler):
    """Serves clients/js and forwards /users/... to the API server, so the
    page and the API share an origin (CORS is not needed)."""

    api = None  # the API server's URL, set on a subclass
    forwarded = None  # [(method, generation, status)], set on a subclass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(JS), **kwargs)

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        if self.path.startswith("/users/"):
            return self.forward()
        return super().do_GET()

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        request = urllib.request.Request(
            self.api + self.path, method=self.command,
            data=self.rfile.read(length) if length else None)
        for name in ("Authorization", "Content-Type", "If-None-Match",
                     "Accept"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            answer = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as e:
            answer = e
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        self.forwarded.append(
            (self.command, query.get("generation", [None])[0], answer.status))
        with answer:
            body = answer.read()
            self.send_response(answer.status)
            for name in ("Content-Type", "ETag"):
                if answer.headers.get(name):
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = forward


@pytest.fixture
def site(live):
    server, token = live
    handler = type("Handler", (StaticAndProxy,),
                   {"api": server.url, "forwarded": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield (f"http://127.0.0.1:{httpd.server_address[1]}", server, token,
           handler.forwarded)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium "
                    "(.ci/run does)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context.new_page()
        browser.close()


# Runs in the page: a SyncClient on an IndexedDBStore, with the browser's
# own fetch.
OPEN_CLIENT = """
async ({token}) => {
  const gsync = await import("/gsync.js");
  const store = new gsync.IndexedDBStore({database: "test", key: "alice"});
  window.client = new gsync.SyncClient({
    baseUrl: location.origin, userId: "alice", token, store});
  window.store = store;
  window.stored = await store.get();
}
"""


def in_page(page, expression):
    """Evaluate expression (may be a promise) in the page; return its value.

    Through JSON: Playwright's own transfer of objects drops a "__proto__"
    key, which JSON keeps."""
    return json.loads(page.evaluate(
        f"async () => JSON.stringify((await ({expression})) ?? null)"))


def test_indexeddb_store_keeps_the_mirror_across_reloads(site, page):
    url, server, token, forwarded = site
    page.goto(url + "/")
    page.evaluate(OPEN_CLIENT, {"token": token})
    assert in_page(page, "window.stored") is None
    page.evaluate("""async () => {
        await client.sync();
        await client.create("messages", {id: "__proto__", text: "tricky id"});
        await client.createSet("tasks", "work");
        await client.create("tasks/work", {id: "w1", done: false});
    }""")
    held = in_page(page, "client.state")
    python = SyncClient(server.url, "alice", token)
    python.sync()
    assert held == python.state

    # Another device writes while the page is away.
    python.patch("tasks/work/w1", {"done": True})
    page.reload()
    del forwarded[:]
    page.evaluate(OPEN_CLIENT, {"token": token})
    stored = in_page(page, "window.stored")
    assert stored["state"] == held  # the __proto__ id survived IndexedDB
    page.evaluate("async () => { await client.sync(); await client.sync(); }")
    assert in_page(page, "client.state") == python.state
    # It resumed from the stored generation, then the ETag gave a 304.
    assert forwarded == [
        ("GET", str(held["generation"]), 200),
        ("GET", str(python.generation), 304),
    ]
    assert in_page(page, "store.get()")["etag"] == f'"{python.generation}"'


def readme_tour_output():
    text = (JS / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- tour output:")[1].split("```\n")[1]
    return block.splitlines()


def test_the_readme_tour_output_is_what_the_tour_prints(live):
    server, token = live
    env = dict(os.environ, GSYNC_URL=server.url, GSYNC_USER="alice",
               GSYNC_TOKEN=token)
    result = subprocess.run(
        [node(), "clients/js/examples/tour.mjs"], cwd=TOP, env=env,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + server.log()
    printed = result.stdout.splitlines()
    # How many pages depends on whether the server pages: compare the rest,
    # and check the pages lead to the generation the README shows.
    pages = [json.loads(line.split(" ", 2)[2]) for line in printed
             if line.startswith("page -> ")]
    assert pages[-1] == {"generation": 9, "more": False}
    assert all(page["more"] for page in pages[:-1])
    expected = readme_tour_output()
    assert [l for l in printed if not l.startswith("page -> ")] == [
        l for l in expected if not l.startswith("page -> ")]
