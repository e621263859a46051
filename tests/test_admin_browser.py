"""The admin pages in a real browser: Debian's Chromium, driven by
Playwright, against a real ``pserve`` on loopback.

Each page visited is saved as a screenshot under ``test-artifacts/admin/``
at the top of the checkout.
"""
import json
import os
import pathlib
import re
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

from myproject.passwords import hash_password

from .servers import Server, write_ini

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "test-artifacts" / "admin"
USERNAME = "boss"
PASSWORD = "browser test password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("admin-browser")
    ini, port = write_ini(str(folder), f"file://{folder}/Data.fs", settings={
        "myproject.push.senders": "log",
        "myproject.admin.username": USERNAME,
        "myproject.admin.password_hash": hash_password(PASSWORD),
        "myproject.admin.session_secret": "browser-test-secret-" + "x" * 20,
    })
    server = Server(ini, port).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium "
                    "(.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message),
                                      dialog.dismiss()))
    return page


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def api(server, method, path, token, body=None):
    """Call the JSON API with a bearer token; return the decoded answer."""
    request = urllib.request.Request(
        server.url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def log_in(page, server, password=PASSWORD):
    page.goto(server.url + "/@@admin-login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")


def create_user(page, server, user_id):
    """Create a user on the users page; return its token (shown once)."""
    page.goto(server.url + "/users/@@admin")
    page.fill("#create-user input[name=id]", user_id)
    page.click("#create-user button")
    expect(page.locator("h1")).to_have_text(f"User {user_id} created")
    return page.inner_text("#token").strip()


def generation(page):
    return int(page.inner_text("#generation"))


def test_an_admin_manages_users_trees_and_documents(server, page):
    # Closed until logged in: the login form, not the API's JSON 401.
    page.goto(server.url + "/@@admin")
    expect(page).to_have_url(re.compile(r"/@@admin-login\?came_from="))
    shot(page, "01-login")

    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".stats")).to_contain_text("users")
    shot(page, "02-dashboard")

    page.click("nav.main-nav >> text=Users")
    expect(page.locator("h1")).to_have_text("Users")
    page.fill("#create-user input[name=id]", "carol")
    page.click("#create-user button")
    expect(page.locator("h1")).to_have_text("User carol created")
    token = page.inner_text("#token").strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+", token)
    shot(page, "03-user-created")

    page.click("text=All users")
    expect(page.locator("table.users")).to_contain_text("carol")
    shot(page, "04-users")

    # Carol's app writes through the API.
    api(server, "POST", "/users/carol/messages", token,
        {"id": "m1", "text": "Lunch at noon?", "tags": ["food", "team"]})
    api(server, "POST", "/users/carol/tasks", token, {"set": "work"})
    api(server, "POST", "/users/carol/tasks/work", token,
        {"id": "w1", "title": "Write the report", "done": False})
    api(server, "POST", "/users/carol/@@devices", token,
        {"platform": "apns", "token": "0123456789abcdef" * 4,
         "environment": "sandbox"})

    page.click("table.users >> text=carol")
    expect(page.locator("h1")).to_have_text("User carol")
    outline = page.locator("ul.outline").first
    expect(outline).to_contain_text("messages/")
    expect(outline).to_contain_text("work/")
    expect(page.locator("table").first).to_contain_text("012345…cdef")
    before = generation(page)
    page.click("ul.outline summary:has-text('w1')")  # unfold a document
    expect(page.locator("ul.outline pre.json").nth(1)).to_be_visible()
    shot(page, "05-user")

    page.click("ul.outline a:has-text('m1')")
    expect(page.locator("h1")).to_have_text("Document m1")
    expect(page.locator("pre.document")).to_contain_text('"text": "Lunch at noon?"')
    shot(page, "06-document")

    page.click("#delete button")
    expect(page.locator("h1")).to_have_text("Set messages of carol")
    expect(page.locator(".flash.info")).to_contain_text(
        f"generation {before} → {before + 1}")
    shot(page, "07-deleted")
    page.click(".crumbs >> text=carol")
    assert generation(page) == before + 1
    expect(page.locator("ul.outline").first).not_to_contain_text("m1")
    assert api(server, "GET", f"/users/carol?generation={before}", token) == {
        "generation": before + 1,
        "adds": [{"set": "messages", "removals": ["m1"]}]}

    page.click(f"text=Log out {USERNAME}")
    expect(page.locator(".flash.info")).to_have_text("Logged out.")
    shot(page, "08-logged-out")
    for path in ["/@@admin", "/users/@@admin", "/users/carol/@@admin"]:
        page.goto(server.url + path)
        expect(page).to_have_url(re.compile(r"/@@admin-login\?came_from="))
    assert page.dialogs == []


def test_a_wrong_password_shows_an_error(server, page):
    log_in(page, server, password="not the password")
    expect(page.locator(".flash.error")).to_have_text(
        "Wrong username or password.")
    expect(page.locator("input[name=username]")).to_have_value(USERNAME)
    shot(page, "09-wrong-password")
    page.goto(server.url + "/@@admin")
    expect(page).to_have_url(re.compile(r"/@@admin-login"))


def test_a_post_without_the_csrf_token_is_refused(server, page, context):
    log_in(page, server)
    page.goto(server.url + "/users/@@admin")
    # The form, with its token taken out, as a forged form would be.
    page.locator("#create-user input[name=csrf_token]").evaluate(
        "input => input.remove()")
    page.fill("#create-user input[name=id]", "mallory")
    page.click("#create-user button")
    expect(page.locator("h1")).to_have_text("Form refused")
    shot(page, "10-csrf-refused")
    # The same POST made outside the page, with the session cookie.
    response = context.request.post(server.url + "/users/@@admin-create",
                                    form={"id": "mallory"})
    assert response.status == 400
    page.goto(server.url + "/users/@@admin?q=mallory")
    expect(page.locator("main")).to_contain_text(
        "No users whose id starts with")


def test_a_document_with_a_script_is_shown_escaped(server, page):
    log_in(page, server)
    token = create_user(page, server, "eve")
    evil = "<script>alert('xss')</script><img src=x onerror=alert('img')>"
    api(server, "POST", "/users/eve/messages", token,
        {"id": "x1", "text": evil})
    page.goto(server.url + "/users/eve/messages/x1/@@admin")
    expect(page.locator("pre.document")).to_contain_text(evil)
    assert page.locator("main script, main img").count() == 0
    shot(page, "11-escaped-script")
    page.goto(server.url + "/users/eve/@@admin")
    page.click("ul.outline summary:has-text('x1')")
    expect(page.locator("ul.outline pre.json")).to_contain_text(evil)
    assert page.dialogs == []


def test_the_pages_fit_a_phone_screen(server, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        log_in(page, server)
        create_user(page, server, "phone-user")
        for name, path in [("12-phone-dashboard", "/@@admin"),
                           ("13-phone-users", "/users/@@admin"),
                           ("14-phone-user", "/users/phone-user/@@admin")]:
            page.goto(server.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width}px wide"
            shot(page, name)
    finally:
        context.close()
