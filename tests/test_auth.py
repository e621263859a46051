"""Authentication and authorization: tokens, JWTs, admins, the CLI."""
import io
import time

import jwt
import pytest
import webtest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from myproject import main
from myproject.scripts import admin as admin_script

from .conftest import _close, app_settings, auth, make_user, site_of


def test_anonymous_requests_get_a_json_401(testapp, alice):
    r = testapp.get("/users/alice", status=401)
    assert r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [
    "Bearer nonsense", "Bearer abc.def", "Basic YWxpY2U6eA==", "Bearer ",
])
def test_bad_credentials_get_a_401(testapp, alice, header):
    testapp.get("/users/alice", headers={"Authorization": header}, status=401)


def test_a_forged_secret_for_a_real_token_id_is_refused(testapp, alice):
    token_id = alice.partition(".")[0]
    testapp.get("/users/alice", headers=auth(token_id + ".forged"),
                status=401)


def test_a_user_cannot_reach_another_users_tree(testapp, alice, bob):
    testapp.post_json("/users/bob/messages", {"id": "b1"}, headers=auth(bob))
    for method, path in [("GET", "/users/bob"), ("GET", "/users/bob/messages"),
                         ("GET", "/users/bob/messages/b1"),
                         ("DELETE", "/users/bob/messages/b1"),
                         ("DELETE", "/users/bob/messages")]:
        r = testapp.request(path, method=method, headers=auth(alice),
                            status=403)
        assert r.json["error"] == "forbidden"
    testapp.post_json("/users/bob/messages", {"id": "x"}, headers=auth(alice),
                      status=403)
    testapp.put_json("/users/bob/messages/b1", {"v": 1}, headers=auth(alice),
                     status=403)
    assert testapp.get("/users/bob/messages/b1", headers=auth(bob)).json == {
        "document": {"id": "b1"}}


def test_users_cannot_use_the_users_api(testapp, alice):
    testapp.get("/users", headers=auth(alice), status=403)
    testapp.post_json("/users", {"id": "mallory"}, headers=auth(alice),
                      status=403)
    testapp.get("/users/alice/@@tokens", headers=auth(alice), status=403)
    testapp.delete("/users/alice", headers=auth(alice), status=403)


def test_admins_reach_every_tree(testapp, admin_token, alice):
    testapp.post_json("/users/alice/messages", {"id": "from-admin"},
                      headers=auth(admin_token), status=201)
    body = testapp.get("/users/alice/messages", headers=auth(alice)).json
    assert body["adds"] == [{"id": "from-admin"}]


def test_admin_creates_users_and_the_token_is_shown_once(testapp, admin_token,
                                                        app):
    r = testapp.post_json("/users", {"id": "carol"}, headers=auth(admin_token),
                          status=201)
    token = r.json["token"]
    assert r.json["id"] == "carol" and not r.json["admin"]
    assert testapp.get("/users/carol", headers=auth(token)).json[
        "generation"] == 3
    listed = testapp.get("/users/carol/@@tokens",
                         headers=auth(admin_token)).json["tokens"]
    assert len(listed) == 1 and token not in str(listed)
    site, conn = site_of(app)
    stored = site.users["carol"].tokens[listed[0]["id"]]
    assert token.partition(".")[2] not in repr(vars(stored))
    conn.close()
    testapp.post_json("/users", {"id": "carol"}, headers=auth(admin_token),
                      status=409)
    testapp.post_json("/users", {"id": "a/b"}, headers=auth(admin_token),
                      status=422)


def test_admin_lists_users_page_by_page(testapp, admin_token, app):
    for name in ("u1", "u2", "u3"):
        make_user(app, name)
    page = testapp.get("/users?limit=2", headers=auth(admin_token)).json
    assert [u["id"] for u in page["users"]] == ["root", "u1"]
    assert page["count"] == 4 and page["next"] == "u2"
    page = testapp.get("/users?limit=2&start=u2",
                       headers=auth(admin_token)).json
    assert [u["id"] for u in page["users"]] == ["u2", "u3"]
    assert page["next"] is None
    testapp.get("/users?limit=x", headers=auth(admin_token), status=422)


def test_revoked_tokens_stop_working(testapp, admin_token, alice):
    new = testapp.post_json("/users/alice/@@tokens", {"label": "phone"},
                            headers=auth(admin_token)).json
    testapp.get("/users/alice", headers=auth(new["token"]))
    testapp.delete(f"/users/alice/@@tokens/{new['id']}",
                   headers=auth(admin_token))
    testapp.get("/users/alice", headers=auth(new["token"]), status=401)
    testapp.get("/users/alice", headers=auth(alice))
    testapp.delete("/users/alice/@@tokens/unknown",
                   headers=auth(admin_token), status=404)


def test_deleted_users_and_their_tokens_are_gone(testapp, admin_token, alice):
    testapp.delete("/users/alice", headers=auth(admin_token))
    testapp.get("/users/alice", headers=auth(admin_token), status=404)
    testapp.get("/", headers=auth(alice))
    # The token went with its user: no valid credentials, so 401.
    testapp.get("/users/alice", headers=auth(alice), status=401)


# JWTs from the application's own auth service

SECRET = "a-shared-secret-of-32-bytes-at-least"


def _jwt_app(tmp_path, **settings):
    return main({}, **app_settings(tmp_path, **settings))


def _claims(sub, **extra):
    return dict({"sub": sub, "exp": int(time.time()) + 300}, **extra)


def test_hs256_jwt_identifies_and_creates_the_user(tmp_path):
    application = _jwt_app(tmp_path, **{
        "myproject.jwt.secret": SECRET, "myproject.jwt.audience": "sync"})
    try:
        testapp = webtest.TestApp(application)
        token = jwt.encode(_claims("dave", aud="sync"), SECRET,
                           algorithm="HS256")
        assert testapp.get("/users/dave", headers=auth(token)).json[
            "generation"] == 3
        testapp.get("/users/dave", headers=auth(jwt.encode(
            _claims("dave", aud="sync"), SECRET.upper(), algorithm="HS256")),
            status=401)
        testapp.get("/users/dave", headers=auth(jwt.encode(
            _claims("dave", aud="other"), SECRET, algorithm="HS256")),
            status=401)
        expired = jwt.encode({"sub": "dave", "aud": "sync",
                              "exp": int(time.time()) - 3600}, SECRET,
                             algorithm="HS256")
        testapp.get("/users/dave", headers=auth(expired), status=401)
        other = jwt.encode(_claims("erin", aud="sync"), SECRET,
                           algorithm="HS256")
        testapp.get("/users/dave", headers=auth(other), status=403)
    finally:
        _close(application)


def test_rs256_jwt_is_verified_with_the_public_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "auth.pub"
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    application = _jwt_app(tmp_path, **{
        "myproject.jwt.public_key_file": str(public)})
    try:
        testapp = webtest.TestApp(application)
        token = jwt.encode(_claims("frank"), key, algorithm="RS256")
        testapp.get("/users/frank", headers=auth(token))
        hs = jwt.encode(_claims("frank"), SECRET, algorithm="HS256")
        testapp.get("/users/frank", headers=auth(hs), status=401)
    finally:
        _close(application)


# The command-line tool

@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "test.ini"
    path.write_text(f"""\
[app:main]
use = egg:myproject
zodbconn.uri = file://{tmp_path}/var/Data.fs
myproject.user_sets = messages tasks
myproject.push.senders = log
""")
    return str(path)


def run_cli(*argv):
    out = io.StringIO()
    status = admin_script.main(list(argv), out=out)
    return status, out.getvalue()


def test_cli_adds_lists_and_revokes(ini, tmp_path, capsys):
    status, out = run_cli(ini, "add-user", "alice")
    assert status == 0
    token = out.strip()
    assert len(token.split(".")) == 2
    status, _ = run_cli(ini, "add-user", "boss", "--admin")
    assert status == 0
    status, out = run_cli(ini, "list-users")
    assert out.splitlines() == ["alice  generation 3",
                                "boss  generation 3  (admin)"]
    application = main({}, **app_settings(tmp_path))
    try:
        webtest.TestApp(application).get("/users/alice", headers=auth(token))
    finally:
        _close(application)
    status, out = run_cli(ini, "list-tokens", "alice")
    token_id = out.split()[0]
    assert token_id == token.partition(".")[0] and token not in out
    assert run_cli(ini, "revoke-token", "alice", token_id) == (
        0, f"revoked {token_id}\n")
    assert run_cli(ini, "revoke-token", "alice", token_id)[0] == 1
    assert run_cli(ini, "add-user", "alice")[0] == 1
    assert "exists already" in capsys.readouterr().err
    application = main({}, **app_settings(tmp_path))
    try:
        webtest.TestApp(application).get(
            "/users/alice", headers=auth(token), status=401)
    finally:
        _close(application)


# No existence oracle: 401 and 403 are decided before traversal looks.

PROBES = [
    ("GET", "/users/{u}"), ("GET", "/users/{u}/messages"),
    ("GET", "/users/{u}/messages/m1"), ("GET", "/users/{u}/messages/x/y/z"),
    ("GET", "/users/{u}/nosuch"), ("GET", "/users/{u}/@@devices"),
    ("GET", "/users/{u}/@@tokens"), ("GET", "/users/{u}/@@nosuchview"),
    ("GET", "/users/{u}/messages/../tasks"),
    ("POST", "/users/{u}/messages"), ("PUT", "/users/{u}/messages/m1"),
    ("PATCH", "/users/{u}/messages/m1"), ("DELETE", "/users/{u}/messages/m1"),
    ("DELETE", "/users/{u}"), ("POST", "/users/{u}/messages/m1/@@share"),
    ("DELETE", "/users/{u}/@@devices/abc"),
]


def _probe(testapp, method, path, headers, status):
    r = testapp.request(path, method=method, headers=headers, status=status,
                        body=b"{}", content_type="application/json")
    assert r.content_type == "application/json"
    return r.json


@pytest.mark.parametrize("poll_fast_path", ["true", "false"])
def test_without_credentials_every_tree_path_is_401_existing_or_not(
        tmp_path, poll_fast_path):
    application = main({}, **app_settings(
        tmp_path, **{"myproject.poll_fast_path": poll_fast_path}))
    try:
        testapp = webtest.TestApp(application)
        alice = make_user(application, "alice")
        testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=auth(alice))
        for header in [{}, {"Authorization": "Bearer nonsense"},
                       {"Authorization": "Bearer " + alice[:-2] + "xx"}]:
            for method, path in PROBES:
                answers = {_probe(testapp, method, path.format(u=u), header,
                                  401)["detail"]
                           for u in ("alice", "nosuch")}
                assert len(answers) == 1, (method, path, answers)
    finally:
        _close(application)


@pytest.mark.parametrize("poll_fast_path", ["true", "false"])
def test_another_users_tree_is_403_existing_or_not(tmp_path, poll_fast_path):
    application = main({}, **app_settings(
        tmp_path, **{"myproject.poll_fast_path": poll_fast_path}))
    try:
        testapp = webtest.TestApp(application)
        alice = make_user(application, "alice")
        bob = make_user(application, "bob")
        testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=auth(alice))
        for method, path in PROBES:
            answers = {_probe(testapp, method, path.format(u=u), auth(bob),
                              403)["detail"]
                       for u in ("alice", "nosuch")}
            assert len(answers) == 1, (method, path, answers)
    finally:
        _close(application)


def test_the_owner_and_admins_learn_what_is_missing(testapp, alice,
                                                    admin_token):
    testapp.get("/users/alice/messages/nosuch", headers=auth(alice),
                status=404)
    testapp.get("/users/alice/nosuch/x", headers=auth(alice), status=404)
    testapp.get("/users/nosuch", headers=auth(admin_token), status=404)
    testapp.get("/users/nosuch/messages/x", headers=auth(admin_token),
                status=404)


def test_dot_segments_are_judged_where_traversal_goes(testapp, alice, bob):
    testapp.get("/users/alice/../bob", headers=auth(alice), status=403)
    testapp.get("/users/alice/../nosuch", headers=auth(alice), status=403)
    testapp.get("/users/bob/../alice/messages", headers=auth(alice),
                status=200)


# Wording: what was wrong, never why a token failed, no internals.

def test_no_credentials_and_a_rejected_token_are_told_apart(testapp, alice):
    none = testapp.get("/users/alice", status=401).json["detail"]
    assert none == "send Authorization: Bearer <token>"
    for token in ["nonsense", alice.partition(".")[0] + ".forged", "a.b.c"]:
        rejected = testapp.get("/users/alice", headers=auth(token),
                               status=401)
        assert rejected.json["detail"] == "the token was not accepted"
        assert rejected.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_refusal_names_no_framework_internals(testapp, alice, bob):
    testapp.post_json("/users/bob/messages", {"id": "b1"}, headers=auth(bob))
    details = [
        testapp.get("/users/bob", headers=auth(alice), status=403),
        testapp.get("/users/bob/messages/b1", headers=auth(alice),
                    status=403),
        testapp.get("/users", headers=auth(alice), status=403),
        testapp.get("/users/alice/@@tokens", headers=auth(alice),
                    status=403),
        testapp.get("/@@push", headers=auth(alice), status=403),
    ]
    for r in details:
        detail = r.json["detail"]
        assert "permission" not in detail and "Unauthorized" not in detail
        assert "_" not in detail, detail


def test_a_jwt_whose_subject_has_a_lone_surrogate_is_400(tmp_path):
    application = _jwt_app(tmp_path, **{"myproject.jwt.secret": SECRET})
    try:
        testapp = webtest.TestApp(application)
        token = jwt.encode(_claims("x\ud800"), SECRET, algorithm="HS256")
        for path in ["/users/x", "/users/x/messages"]:
            r = testapp.get(path, headers=auth(token), status=400)
            assert r.json["error"] == "bad_request"
        testapp.post_json("/users/x/messages", {"id": "m"},
                          headers=auth(token), status=400)
        testapp.get("/", status=200)  # creates the site
        site, conn = site_of(application)
        try:
            assert len(site.users) == 0
        finally:
            conn.close()
    finally:
        _close(application)
