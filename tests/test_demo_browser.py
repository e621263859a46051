"""The demo page in a real browser (Debian's Chromium, Playwright): the
JavaScript client mirrors a user's tree live, and a write from Python shows
up without a reload."""
import io
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from myproject.scripts import admin as admin_script

from .servers import Server, write_ini
from .test_admin_browser import browser, context, page  # noqa: F401


@pytest.fixture
def server(tmp_path):
    ini, port = write_ini(str(tmp_path), f"file://{tmp_path}/Data.fs",
                          threads=4,
                          settings={"myproject.push.senders": "log"})
    out = io.StringIO()
    assert admin_script.main([ini, "add-user", "alice"], out=out) == 0
    server = Server(ini, port).start()
    server.token = out.getvalue().strip()
    yield server
    server.stop()


def post(server, path, body):
    request = urllib.request.Request(
        server.url + path, method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_write_from_python_shows_up_on_the_demo_page(server, page):  # noqa: F811
    page.goto(f"{server.url}/@@demo#user=alice&token={server.token}")
    expect(page.locator("#status")).to_have_text("live")
    expect(page.locator("#generation")).to_have_text("3")
    loads = []
    page.on("load", lambda: loads.append(1))
    post(server, "/users/alice/messages", {"id": "m1", "text": "from Python"})
    expect(page.locator("#mirror")).to_contain_text("from Python")
    expect(page.locator("#generation")).to_have_text("4")
    post(server, "/users/alice/tasks", {"id": "t1", "title": "second"})
    expect(page.locator("#mirror")).to_contain_text("second")
    assert loads == []  # no reload: the page mirrored it live
