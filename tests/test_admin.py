"""The admin pages through WebTest: every page and action, login, CSRF."""
import html
import io
import re

import pytest
import webtest
from pyramid.exceptions import ConfigurationError

from myproject import main
from myproject.push import Device
from myproject.push.sender import token_hash
from myproject.scripts import hash_password as hash_script
from myproject.passwords import hash_password, verify_password

from .conftest import _close, app_settings, auth, make_user, site_of

USERNAME = "boss"
PASSWORD = "correct horse battery staple"
# Cheap scrypt parameters keep the tests quick; the login reads them from
# the hash, so the code path is the one a real hash takes.
PASSWORD_HASH = hash_password(PASSWORD, n=2 ** 10)
SECRET = "s" * 40


def admin_settings(tmp_path, **overrides):
    return app_settings(tmp_path, **{
        "myproject.admin.username": USERNAME,
        "myproject.admin.password_hash": PASSWORD_HASH,
        "myproject.admin.session_secret": SECRET,
        **overrides,
    })


@pytest.fixture
def settings(tmp_path):
    return admin_settings(tmp_path)


@pytest.fixture
def api(app):
    """A second client for the JSON API: no admin session cookie."""
    return webtest.TestApp(app)


@pytest.fixture
def admin(testapp):
    """The WebTest client, logged in on the admin pages."""
    log_in(testapp)
    return testapp


def log_in(testapp, username=USERNAME, password=PASSWORD, came_from=None):
    url = "/@@admin-login"
    if came_from is not None:
        url += "?came_from=" + came_from
    form = testapp.get(url).forms["login"]
    form["username"] = username
    form["password"] = password
    return form.submit()


def form_with(page, field, value):
    """Return the form of page holding a field with that value."""
    for form in page.forms.values():
        if field in form.fields and form[field].value == value:
            return form
    raise AssertionError(f"no form with {field}={value!r}")


def flash(page):
    return [html.unescape(re.sub(r"\s+", " ", m)) for m in
            re.findall(r'<p class="flash [a-z]+" role="\w+">(.*?)</p>',
                       page.text, re.S)]


def main_text(page):
    """The text of the page's <main>, tags removed, spaces collapsed."""
    text = page.text.split("<main>", 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def generation_of(app, user_id):
    site, conn = site_of(app)
    try:
        return site.users[user_id].tree.generation
    finally:
        conn.close()


# Logging in

PAGES = [
    "/@@admin", "/users/@@admin", "/users/alice/@@admin",
    "/users/alice/messages/@@admin", "/users/alice/messages/m1/@@admin",
]


@pytest.mark.parametrize("path", PAGES + ["/users/nobody/@@admin"])
def test_an_anonymous_visit_redirects_to_the_login_form(testapp, api, alice,
                                                        path):
    api.post_json("/users/alice/messages", {"id": "m1"}, headers=auth(alice))
    r = testapp.get(path, status=303)
    assert r.location.startswith("http://localhost/@@admin-login?came_from=")
    page = r.follow()
    assert page.content_type == "text/html"
    assert "login" in page.forms


@pytest.mark.parametrize("admin_user", [False, True])
def test_bearer_tokens_never_open_an_admin_page(testapp, app, admin_user):
    token = make_user(app, "alice", admin=admin_user)
    for path in ["/@@admin", "/users/@@admin", "/users/alice/@@admin"]:
        r = testapp.get(path, headers=auth(token), status=303)
        assert "@@admin-login" in r.location
    # An action: refused before the CSRF check, and nothing changes.
    token_id = token.partition(".")[0]
    r = testapp.post("/users/alice/@@admin-revoke-token",
                     {"token_id": token_id}, headers=auth(token), status=403)
    assert r.content_type == "text/html"
    testapp.get("/users/alice", headers=auth(token), status=200)


def test_the_admin_session_opens_no_api_view(admin, alice):
    # The API is not CSRF-protected: a session cookie must not reach it.
    r = admin.get("/users", status=401)
    assert r.json["error"] == "unauthorized"
    admin.get("/users/alice", status=401)
    admin.post_json("/users", {"id": "mallory"}, status=401)


def test_the_api_keeps_its_json_errors(api, alice):
    assert api.get("/users/alice", status=401).json["error"] == "unauthorized"
    assert api.get("/users/alice/nothing", headers=auth(alice),
                   status=404).json["error"] == "not_found"


def test_logging_in_opens_the_dashboard(testapp):
    r = log_in(testapp)
    assert r.status_int == 303
    assert r.location == "http://localhost/@@admin"
    page = r.follow()
    assert "<h1>Dashboard</h1>" in page.text
    assert f"Log out {USERNAME}" in page.text


def test_the_login_returns_to_the_page_asked_for(testapp, alice):
    r = testapp.get("/users/alice/@@admin", status=303)
    page = r.follow()
    r = page.forms["login"]
    r["username"], r["password"] = USERNAME, PASSWORD
    r = r.submit(status=303)
    assert r.location == "http://localhost/users/alice/@@admin"
    assert "User alice" in r.follow().text


@pytest.mark.parametrize("came_from", [
    "//evil.example/@@admin", "https://evil.example/@@admin", "/users",
    "/@@admin%0d%0aX:1", "/@@admin%0aSet-Cookie:x=1", "/@@admin%C3%A9",
    "/@@admin%09x",
])
def test_the_login_never_redirects_off_the_admin_pages(testapp, came_from):
    r = log_in(testapp, came_from=came_from)
    assert r.location == "http://localhost/@@admin"
    # and, once logged in, the login page itself redirects the same way
    again = testapp.get("/@@admin-login?came_from=" + came_from)
    assert again.status_int == 200 or (
        again.location == "http://localhost/@@admin")


@pytest.mark.parametrize("username, password", [
    (USERNAME, "wrong"), ("someone", PASSWORD), ("", ""),
])
def test_a_wrong_password_shows_an_error(testapp, username, password):
    page = log_in(testapp, username, password)
    assert page.status_int == 200
    assert flash(page) == ["Wrong username or password."]
    assert page.forms["login"]["username"].value == username
    testapp.get("/@@admin", status=303)


def test_the_session_cookie_is_httponly_and_samesite(testapp):
    r = log_in(testapp)
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("myproject_admin=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "secure" not in cookie.lower()


def test_the_session_cookie_can_be_secure_only(tmp_path):
    app = main({}, **admin_settings(
        tmp_path, **{"myproject.admin.session_secure": "true"}))
    try:
        # The login form's page sets the cookie (its CSRF token).
        r = webtest.TestApp(app).get("/@@admin-login")
        assert "; secure" in r.headers["Set-Cookie"].lower()
    finally:
        _close(app)


def test_logging_out_closes_the_pages(admin):
    page = admin.get("/@@admin")
    r = page.forms["logout"].submit(status=303)
    assert r.location == "http://localhost/@@admin-login"
    assert flash(r.follow()) == ["Logged out."]
    for path in ["/@@admin", "/users/@@admin"]:
        admin.get(path, status=303)


def test_admin_login_is_off_without_credentials(tmp_path):
    app = main({}, **app_settings(tmp_path))
    try:
        testapp = webtest.TestApp(app)
        page = testapp.get("/@@admin-login")
        assert "Admin login is off" in page.text
        page = log_in(testapp, "admin", "admin")
        assert flash(page) == ["Admin login is not configured on this server."]
        testapp.get("/@@admin", status=303)
    finally:
        _close(app)


def submit_login(testapp, password, address):
    form = testapp.get("/@@admin-login").forms["login"]
    form["username"] = USERNAME
    form["password"] = password
    return form.submit(extra_environ={"REMOTE_ADDR": address}, status="*")


def test_failed_logins_pause_the_address_that_made_them(tmp_path, caplog):
    app = main({}, **admin_settings(tmp_path, **{
        "myproject.admin.login_attempts": "3",
        "myproject.admin.login_window": "120"}))
    try:
        guesser = webtest.TestApp(app)
        for _ in range(3):
            r = submit_login(guesser, "wrong", "192.0.2.7")
            assert r.status_int == 200
            assert flash(r) == ["Wrong username or password."]
        # Even the right password is refused now, unchecked.
        r = submit_login(guesser, PASSWORD, "192.0.2.7")
        assert r.status_int == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 120
        assert flash(r) == [
            "Too many failed logins from your address; try again in "
            "2 minutes."]
        guesser.get("/@@admin", status=303)  # not logged in
        assert "paused: 3 failed logins" in caplog.text
        assert PASSWORD not in caplog.text
        # Another address is not held up.
        other = webtest.TestApp(app)
        r = submit_login(other, PASSWORD, "198.51.100.9")
        assert r.status_int == 303
        other.get("/@@admin", status=200)
    finally:
        _close(app)


def test_a_successful_login_clears_the_failures(tmp_path):
    app = main({}, **admin_settings(tmp_path, **{
        "myproject.admin.login_attempts": "2"}))
    try:
        testapp = webtest.TestApp(app)
        assert submit_login(testapp, "wrong", "192.0.2.8").status_int == 200
        assert submit_login(testapp, PASSWORD, "192.0.2.8").status_int == 303
        testapp = webtest.TestApp(app)
        assert submit_login(testapp, "wrong", "192.0.2.8").status_int == 200
        assert submit_login(testapp, PASSWORD, "192.0.2.8").status_int == 303
    finally:
        _close(app)


@pytest.mark.parametrize("setting, value", [
    ("myproject.admin.password_hash", "plain-text-password"),
    ("myproject.admin.password_hash", "scrypt:3:8:1:AAAAAAAAAAA:AAAA"),
    ("myproject.admin.session_secret", "too short"),
    ("myproject.admin.login_attempts", "0"),
    ("myproject.admin.login_attempts", "many"),
    ("myproject.admin.login_window", "-5"),
    ("myproject.admin.login_window", "nan"),
])
def test_bad_admin_settings_stop_the_start(tmp_path, setting, value):
    with pytest.raises(ConfigurationError, match=setting.replace(".", r"\.")):
        main({}, **admin_settings(tmp_path, **{setting: value}))


# CSRF

def test_forms_without_the_csrf_token_are_refused(admin, app, alice):
    token_id = alice.partition(".")[0]
    actions = [
        ("/users/@@admin-create", {"id": "carol"}),
        ("/users/alice/@@admin-revoke-token", {"token_id": token_id}),
        ("/users/alice/@@admin-push", {}),
        ("/@@admin-logout", {}),
    ]
    for url, fields in actions:
        for csrf in ({}, {"csrf_token": "forged"}):
            r = admin.post(url, dict(fields, **csrf), status=400)
            assert r.content_type == "text/html"
            assert "security token" in r.text
    site, conn = site_of(app)
    assert "carol" not in site.users
    assert token_id in site.users["alice"].tokens
    conn.close()
    admin.get("/@@admin", status=200)  # still logged in


def test_the_login_form_needs_its_csrf_token(testapp):
    testapp.get("/@@admin-login")
    r = testapp.post("/@@admin-login",
                     {"username": USERNAME, "password": PASSWORD}, status=400)
    assert "security token" in r.text
    testapp.get("/@@admin", status=303)


def test_a_new_login_gets_a_new_csrf_token(testapp):
    before = testapp.get("/@@admin-login").forms["login"]["csrf_token"].value
    after = log_in(testapp).follow().forms["logout"]["csrf_token"].value
    assert before != after


def test_pages_forbid_framing_scripts_and_caching(admin):
    r = admin.get("/@@admin")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"


# The dashboard

def test_the_dashboard_shows_counts_database_transactions_and_push(
        admin, api, alice, bob):
    api.post_json("/users/alice/messages", {"id": "m1"}, headers=auth(alice))
    api.post_json("/users/bob/tasks", {"id": "t1"}, headers=auth(bob))
    api.post_json("/users/bob/tasks", {"id": "t2"}, headers=auth(bob))
    text = main_text(admin.get("/@@admin"))
    assert "2 users" in text
    assert "3 documents" in text
    assert re.search(r"Size [0-9.]+ KiB", text)
    assert "Recent transactions" in text
    assert "/users/bob/tasks" in text  # pyramid_tm's note of the path
    assert "sent" in text and "queue depth" in text


def test_the_dashboard_estimates_documents_from_a_sample(admin, api, app,
                                                         monkeypatch):
    from myproject.admin import pages as admin_views
    monkeypatch.setattr(admin_views, "DOCUMENT_SAMPLE", 2)
    tokens = {name: make_user(app, name) for name in ("a", "b", "c", "d")}
    api.post_json("/users/a/messages", {"id": "1"}, headers=auth(tokens["a"]))
    text = main_text(admin.get("/@@admin"))
    assert "≈ 2 documents" in text
    assert "estimated from the first 2 users" in text


def test_the_dashboard_says_when_push_is_not_configured(admin, app,
                                                        monkeypatch):
    monkeypatch.delattr(app.registry, "push_dispatcher")
    assert "Push not configured." in main_text(admin.get("/@@admin"))


# Users

def test_the_users_list_searches_by_prefix_and_pages(admin, app):
    for i in range(55):
        make_user(app, f"u{i:02}")
    make_user(app, "alice")
    page = admin.get("/users/@@admin")
    assert "56 users in all" in main_text(page)
    ids = re.findall(r'<a href="[^"]*/users/([^/"]+)/@@admin">', page.text)
    assert ids == ["alice"] + [f"u{i:02}" for i in range(49)]
    page = admin.get("/users/@@admin", {"q": "u"})
    ids = re.findall(r'<a href="[^"]*/users/([^/"]+)/@@admin">', page.text)
    assert ids == [f"u{i:02}" for i in range(50)]
    page = page.click("Next page")
    ids = re.findall(r'<a href="[^"]*/users/([^/"]+)/@@admin">', page.text)
    assert ids == [f"u{i:02}" for i in range(50, 55)]
    assert "Next page" not in page.text
    assert "First page" in page.text
    form = page.forms["search"]
    form["q"] = "u1"
    ids = re.findall(r'<a href="[^"]*/users/([^/"]+)/@@admin">',
                     form.submit().text)
    assert ids == [f"u1{i}" for i in range(10)]
    page = admin.get("/users/@@admin", {"q": "nobody"})
    assert "No users whose id starts with" in page.text


def test_creating_a_user_shows_its_token_once(admin, api):
    form = admin.get("/users/@@admin").forms["create-user"]
    form["id"] = "carol"
    page = form.submit(status=200)
    token = re.search(r'<pre class="token" id="token">([^<]+)</pre>',
                      page.text).group(1)
    assert api.get("/users/carol", headers=auth(token)).json["generation"] == 3
    user_page = admin.get("/users/carol/@@admin")
    assert token.partition(".")[2] not in user_page.text
    assert token.partition(".")[0] in user_page.text
    assert "carol" in admin.get("/users/@@admin").text


@pytest.mark.parametrize("user_id, status, message", [
    ("alice", 409, "User 'alice' exists already."),
    ("a/b", 422, "Cannot create that user: user id must not contain"),
    ("", 422, "Cannot create that user: user id must not be empty."),
])
def test_a_user_that_cannot_be_created_is_an_error(admin, alice, user_id,
                                                   status, message):
    form = admin.get("/users/@@admin").forms["create-user"]
    form["id"] = user_id
    form.fields["id"][0].force_value(user_id)
    page = form.submit(status=status)
    assert flash(page)[0].startswith(message)


def test_an_admin_user_can_be_created(admin, api):
    form = admin.get("/users/@@admin").forms["create-user"]
    form["id"] = "ops"
    form["admin"] = True
    page = form.submit()
    token = re.search(r'id="token">([^<]+)<', page.text).group(1)
    api.get("/users", headers=auth(token), status=200)


# A user

def test_the_user_page_outlines_the_tree_devices_and_tokens(admin, api, alice):
    headers = auth(alice)
    api.post_json("/users/alice/tasks", {"set": "work"}, headers=headers)
    api.post_json("/users/alice/tasks/work", {"id": "w1", "title": "Plan"},
                  headers=headers)
    api.post_json("/users/alice/messages", {"id": "m1", "n": [1, 2]},
                  headers=headers)
    apns = "a1b2c3d4" * 8
    api.post_json("/users/alice/@@devices", {
        "platform": "apns", "token": apns, "environment": "sandbox"},
        headers=headers)
    page = admin.get("/users/alice/@@admin")
    text = main_text(page)
    assert "Tree generation 6" in text
    assert re.search(r"messages/ generation 6 · 1 member", text)
    assert re.search(r"tasks/ generation 5 · 1 member", text)
    assert re.search(r"work/ generation 5 · 1 member", text)
    assert "/users/alice/tasks/work/w1/@@admin" in page.text
    assert '{\n  &#34;id&#34;: &#34;w1&#34;,\n  &#34;title&#34;: &#34;Plan&#34;\n}' in page.text
    # Devices: a shortened token only.
    assert apns not in page.text
    assert "a1b2c3…d3d4" not in text and "a1b2c3…c3d4" in text
    assert "sandbox" in text
    # Tokens: id, label, dates.
    assert alice.partition(".")[0] in text
    assert "test" in text
    assert alice.partition(".")[2] not in page.text


def test_a_user_page_says_how_many_members_are_not_shown(admin, api, alice,
                                                         monkeypatch):
    from myproject.admin import pages as admin_views
    monkeypatch.setattr(admin_views, "OUTLINE_PER_SET", 3)
    for i in range(5):
        api.post_json("/users/alice/messages", {"id": f"m{i}"},
                      headers=auth(alice))
    text = main_text(admin.get("/users/alice/@@admin"))
    assert "2 more in messages…" in text


def test_revoking_a_token(admin, api, app, alice):
    token_id = alice.partition(".")[0]
    page = admin.get("/users/alice/@@admin")
    r = form_with(page, "token_id", token_id).submit(status=303)
    assert flash(r.follow()) == [f"Token {token_id} revoked."]
    api.get("/users/alice", headers=auth(alice), status=401)
    # Revoking it twice (an old page) says so.
    r = form_with(page, "token_id", token_id).submit(status=303)
    assert flash(r.follow()) == [f"alice has no token '{token_id}'."]


def test_removing_a_device(admin, api, app, alice):
    api.post_json("/users/alice/@@devices",
                  {"platform": "fcm", "token": "fcm-token-123456789"},
                  headers=auth(alice))
    page = admin.get("/users/alice/@@admin")
    form = form_with(page, "device", token_hash("fcm-token-123456789"))
    page = form.submit(status=303).follow()
    assert flash(page) == ["Device fcm-to…6789 removed."]
    assert "No devices registered." in page.text
    assert api.get("/users/alice/@@devices",
                   headers=auth(alice)).json == {"devices": []}
    site, conn = site_of(app)
    assert "fcm-token-123456789" not in site.devices
    conn.close()


class FakeDispatcher:
    def __init__(self):
        self.submits = []

    def submit(self, user_id, generation, devices):
        self.submits.append((user_id, generation, list(devices)))

    def stats(self):
        return {"sent": len(self.submits)}


def test_a_test_push_goes_to_the_users_devices(admin, api, app, alice,
                                               monkeypatch):
    dispatcher = FakeDispatcher()
    monkeypatch.setattr(app.registry, "push_dispatcher", dispatcher)
    api.post_json("/users/alice/@@devices", {
        "platform": "apns", "token": "ab" * 32, "environment": "sandbox"},
        headers=auth(alice))
    api.post_json("/users/alice/@@devices",
                  {"platform": "fcm", "token": "f" * 40}, headers=auth(alice))
    generation = generation_of(app, "alice")
    page = admin.get("/users/alice/@@admin")
    page = page.forms["push"].submit(status=303).follow()
    assert flash(page) == [f"Test push of generation {generation} queued for "
                           "2 device(s); see the push counters on the "
                           "dashboard."]
    (user_id, pushed_generation, devices), = dispatcher.submits
    assert (user_id, pushed_generation) == ("alice", generation)
    assert sorted(devices, key=lambda d: d.platform) == [
        Device("apns", "ab" * 32, "sandbox"), Device("fcm", "f" * 40)]


def test_a_test_push_without_devices_or_push_says_why(admin, app, alice,
                                                      monkeypatch):
    page = admin.get("/users/alice/@@admin")
    r = page.forms["push"].submit(status=303).follow()
    assert flash(r) == ["alice has no devices."]
    monkeypatch.delattr(app.registry, "push_dispatcher")
    page = admin.get("/users/alice/@@admin")
    assert "push is not configured on this server" in page.text
    r = page.forms["push"].submit(status=303).follow()
    assert flash(r) == [
        "Push is not configured on this server: nothing was sent."]


def test_admin_actions_are_named_in_the_transaction_log(admin, alice):
    page = admin.get("/users/alice/@@admin")
    form_with(page, "token_id", alice.partition(".")[0]).submit()
    text = main_text(admin.get("/@@admin"))
    assert f"admin-session {USERNAME}" in text
    assert "admin: revoke token" in text


# Sets and documents

def test_a_set_page_pages_through_its_members(admin, api, alice, monkeypatch):
    from myproject.admin import pages as admin_views
    monkeypatch.setattr(admin_views, "SET_PAGE_SIZE", 4)
    for i in range(10):
        api.post_json("/users/alice/messages", {"id": f"m{i}"},
                      headers=auth(alice))
    page = admin.get("/users/alice/messages/@@admin")
    links = re.findall(r'/messages/(m\d)/@@admin', page.text)
    assert links == ["m0", "m1", "m2", "m3"]
    assert "page 1 of 3" in page.text
    page = page.click("Next")
    assert re.findall(r'/messages/(m\d)/@@admin', page.text) == [
        "m4", "m5", "m6", "m7"]
    page = page.click("Next")
    assert re.findall(r'/messages/(m\d)/@@admin', page.text) == ["m8", "m9"]
    assert "Previous" in page.text and "Next »" not in page.text


def test_a_document_with_a_script_is_shown_escaped(admin, api, alice):
    evil = "<script>alert(1)</script>"
    api.post_json("/users/alice/messages",
                  {"id": "m1", "text": evil, evil: 1}, headers=auth(alice))
    for path in ["/users/alice/messages/m1/@@admin", "/users/alice/@@admin",
                 "/users/alice/messages/@@admin"]:
        page = admin.get(path)
        assert "<script" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_ids_with_markup_are_escaped_too(admin, app):
    make_user(app, "<img src=x onerror=alert(1)>")
    for path in ["/users/@@admin", "/@@admin"]:
        page = admin.get(path)
        assert "<img" not in page.text
    page = admin.get("/users/@@admin")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


def test_the_document_page_shows_pretty_json_owner_and_holders(
        admin, api, alice, bob):
    api.post_json("/users/alice/messages", {"id": "m1", "to": ["bob"]},
                  headers=auth(alice))
    api.post_json("/users/alice/messages/m1/@@share", {"users": ["bob"]},
                  headers=auth(alice))
    page = admin.get("/users/alice/messages/m1/@@admin")
    assert ('<pre class="json document">{\n  &#34;id&#34;: &#34;m1&#34;,\n'
            '  &#34;to&#34;: [\n    &#34;bob&#34;\n  ]\n}</pre>') in page.text
    text = main_text(page)
    assert "Owner alice" in text
    assert "alice/messages" in text and "bob/messages" in text
    assert "/users/bob/messages/m1/@@admin" in page.text
    assert "retracts the document from every tree" in text
    bob_copy = admin.get("/users/bob/messages/m1/@@admin")
    assert "hides it from bob's tree only" in main_text(bob_copy)


def test_deleting_an_owned_document_retracts_it_everywhere(admin, api, app,
                                                           alice, bob):
    api.post_json("/users/alice/messages", {"id": "m1"}, headers=auth(alice))
    api.post_json("/users/alice/messages/m1/@@share", {"users": ["bob"]},
                  headers=auth(alice))
    before = {u: generation_of(app, u) for u in ("alice", "bob")}
    page = admin.get("/users/alice/messages/m1/@@admin")
    r = page.forms["delete"].submit(status=303)
    assert r.location == "http://localhost/users/alice/messages/@@admin"
    page = r.follow()
    assert flash(page) == [
        f"Document m1 deleted from every tree holding it; alice's generation "
        f"{before['alice']} → {before['alice'] + 1}."]
    assert "The set is empty." in page.text
    for user, token in (("alice", alice), ("bob", bob)):
        assert generation_of(app, user) == before[user] + 1
        updates = api.get(f"/users/{user}/messages",
                          {"generation": before[user]},
                          headers=auth(token)).json
        assert updates["removals"] == ["m1"]
    admin.get("/users/alice/messages/m1/@@admin", status=404)


def test_deleting_a_shared_copy_hides_it_from_that_holder_only(
        admin, api, app, alice, bob):
    api.post_json("/users/alice/messages", {"id": "m1"}, headers=auth(alice))
    api.post_json("/users/alice/messages/m1/@@share", {"users": ["bob"]},
                  headers=auth(alice))
    alice_generation = generation_of(app, "alice")
    page = admin.get("/users/bob/messages/m1/@@admin")
    page = page.forms["delete"].submit(status=303).follow()
    assert "removed from bob's tree" in flash(page)[0]
    api.get("/users/bob/messages/m1", headers=auth(bob), status=404)
    assert api.get("/users/alice/messages/m1", headers=auth(alice)).json == {
        "document": {"id": "m1"}}
    assert generation_of(app, "alice") == alice_generation


def test_a_document_at_the_top_of_a_tree_can_be_deleted(admin, api, app,
                                                         alice):
    api.post_json("/users/alice", {"id": "top"}, headers=auth(alice))
    page = admin.get("/users/alice/top/@@admin")
    r = page.forms["delete"].submit(status=303)
    assert r.location == "http://localhost/users/alice/@@admin"
    api.get("/users/alice/top", headers=auth(alice), status=404)


def test_an_unknown_admin_page_is_an_html_404_once_logged_in(admin, alice):
    for path in ["/users/nobody/@@admin", "/users/alice/nothing/@@admin",
                 "/@@admin-nothing"]:
        r = admin.get(path, status=404)
        assert r.content_type == "text/html"
        assert "There is no page at" in r.text


# The password helper

def test_a_password_hash_verifies_only_its_password():
    encoded = hash_password("secret", n=2 ** 10)
    assert encoded.startswith("scrypt:1024:8:1:")
    assert verify_password("secret", encoded)
    assert not verify_password("Secret", encoded)
    assert hash_password("secret", n=2 ** 10) != encoded  # a new salt


def test_the_hash_password_script_prints_a_usable_hash():
    out = io.StringIO()
    assert hash_script.main(["--stdin"], stdin=io.StringIO("pw here\n"),
                            out=out) == 0
    encoded = out.getvalue().strip()
    assert re.fullmatch(r"scrypt:16384:8:1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+",
                        encoded)
    assert verify_password("pw here", encoded)
    assert hash_script.main(["--stdin"], stdin=io.StringIO("\n"),
                            out=io.StringIO()) == 1


def test_the_user_page_shows_the_deepest_tree_the_api_allows(admin, api,
                                                             alice):
    from myproject.views.wire import MAX_SET_DEPTH
    path = "/users/alice"
    for _ in range(MAX_SET_DEPTH):
        api.post_json(path, {"set": "s"}, headers=auth(alice), status=201)
        path += "/s"
    api.post_json(path, {"id": "bottom"}, headers=auth(alice), status=201)
    api.post_json(path, {"set": "s"}, headers=auth(alice), status=422)
    page = admin.get("/users/alice/@@admin", status=200)
    assert "bottom" in page.text
    admin.get(path + "/@@admin", status=200)
