"""CORS by allow-list: preflights, exposed headers, refused origins, and
the admin pages, which never get CORS."""
import pytest
import webtest

from myproject import main

from .conftest import _close, app_settings, auth, make_user

APP = "https://app.example.com"


@pytest.fixture
def cors_app(tmp_path):
    application = main({}, **app_settings(tmp_path, **{
        "myproject.cors.origins": f"{APP} http://localhost:8080",
        "myproject.cors.max_age": "120",
    }))
    yield application
    _close(application)


@pytest.fixture
def client(cors_app):
    return webtest.TestApp(cors_app)


def preflight(client, path, origin=APP, method="GET",
              headers="authorization, if-none-match"):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers}, status="*")


def test_a_preflight_from_a_listed_origin_is_answered(client):
    response = preflight(client, "/users/alice/messages", method="POST")
    assert response.status_int == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Methods"] == (
        "GET, POST, PUT, PATCH, DELETE")
    assert response.headers["Access-Control-Allow-Headers"] == (
        "Authorization, Content-Type, If-None-Match, X-Generation")
    assert response.headers["Access-Control-Max-Age"] == "120"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_a_preflight_from_another_origin_gets_no_cors(client):
    response = preflight(client, "/users/alice", origin="https://evil.example")
    assert response.status_int != 204
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_the_poll_shortcut_answer_carries_cors_and_exposes_the_etag(
        cors_app, client, monkeypatch):
    from myproject.views import poll
    token = make_user(cors_app, "alice")
    answered = []
    shortcut = poll._poll
    monkeypatch.setattr(poll, "_poll", lambda request, user: (
        answered.append(user.id), shortcut(request, user))[1])
    response = client.get("/users/alice?generation=0", headers={
        **auth(token), "Origin": APP})
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Expose-Headers"] == "ETag, Location, X-Tree-Generation"
    assert response.headers["ETag"] == '"%d"' % response.json["generation"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    # The 304 of an up-to-date client too.
    response = client.get("/users/alice", headers={
        **auth(token), "Origin": APP,
        "If-None-Match": response.headers["ETag"]})
    assert response.status_int == 304
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert answered == ["alice", "alice"]  # the shortcut answered both


def test_errors_and_writes_carry_cors_for_a_listed_origin(cors_app, client):
    token = make_user(cors_app, "alice")
    response = client.get("/users/alice", headers={"Origin": APP},
                          status=401)
    assert response.headers["Access-Control-Allow-Origin"] == APP
    response = client.post_json("/users/alice/messages?generation=0",
                                {"id": "m1"}, headers={
                                    **auth(token), "Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "Location" in response.headers


def test_another_origin_gets_the_answer_without_cors(cors_app, client):
    token = make_user(cors_app, "alice")
    response = client.get("/users/alice?generation=0", headers={
        **auth(token), "Origin": "https://app.example.com.evil.example"})
    assert response.status_int == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_admin_pages_never_get_cors(client):
    for path in ("/@@admin", "/@@admin-login", "/users/@@admin"):
        response = client.get(path, headers={"Origin": APP}, status="*")
        assert "Access-Control-Allow-Origin" not in response.headers, path
        response = preflight(client, path)
        assert "Access-Control-Allow-Origin" not in response.headers, path
        assert response.status_int != 204, path


def test_cors_is_off_by_default(testapp, alice):
    response = testapp.get("/users/alice", headers={
        **auth(alice), "Origin": APP})
    assert "Access-Control-Allow-Origin" not in response.headers
    response = preflight(testapp, "/users/alice")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_an_origin_with_a_path_is_refused_by_the_settings(tmp_path):
    from pyramid.exceptions import ConfigurationError
    with pytest.raises(ConfigurationError, match="myproject.cors.origins"):
        main({}, **app_settings(tmp_path, **{
            "myproject.cors.origins": "https://app.example.com/page"}))
