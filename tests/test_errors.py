"""Bad input gets a JSON error with the right status and changes nothing."""
import pytest

from .conftest import auth, site_of


@pytest.fixture
def headers(alice):
    return auth(alice)


def error(response, status):
    assert response.status_int == status
    assert response.content_type == "application/json"
    body = response.json
    assert set(body) == {"error", "detail"} and body["detail"]
    return body


def generation_of(app, user_id="alice"):
    site, conn = site_of(app)
    try:
        return site.users[user_id].tree.generation
    finally:
        conn.close()


def test_invalid_json_is_400(testapp, headers, app):
    r = testapp.post("/users/alice/messages", "{nope",
                     content_type="application/json", headers=headers,
                     status=400)
    assert error(r, 400)["error"] == "bad_request"
    assert generation_of(app) == 3


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
def test_a_body_that_is_not_an_object_is_422(testapp, headers, body):
    r = testapp.post("/users/alice/messages", body,
                     content_type="application/json", headers=headers,
                     status=422)
    error(r, 422)


@pytest.mark.parametrize("bad_id", [
    "", "x" * 129, "a/b", "tab\there", "nul\x00", "..", "@@view", 7, None,
    "\x85next-line", "del\x7f", "c1\x9f",
    ["list"],
])
def test_an_invalid_id_is_422(testapp, headers, bad_id, app):
    r = testapp.post_json("/users/alice/messages", {"id": bad_id},
                          headers=headers, status=422)
    assert "id" in error(r, 422)["detail"]
    assert generation_of(app) == 3


def test_an_invalid_set_id_is_422(testapp, headers):
    r = testapp.post_json("/users/alice/messages", {"set": "a/b"},
                          headers=headers, status=422)
    error(r, 422)


@pytest.mark.parametrize("generation", ["-1", "x", "1.5", "", "1e3",
                                        "9" * 40])
def test_a_generation_that_is_not_a_non_negative_integer_is_400(
        testapp, headers, generation):
    r = testapp.get("/users/alice", {"generation": generation},
                    headers=headers, status=400)
    assert "generation" in error(r, 400)["detail"]
    r = testapp.get("/users/alice",
                    headers=dict(headers, **{"X-Generation": generation}),
                    status=400)
    error(r, 400)


def test_a_bad_generation_on_a_write_commits_nothing(testapp, headers, app):
    testapp.post_json("/users/alice/messages?generation=bad", {"id": "m1"},
                      headers=headers, status=400)
    assert generation_of(app) == 3


def test_a_body_over_the_limit_is_413(tmp_path):
    import webtest

    from myproject import main

    from .conftest import _close, app_settings, make_user
    application = main({}, **app_settings(
        tmp_path, **{"myproject.max_body_size": "100"}))
    try:
        token = make_user(application, "alice")
        testapp = webtest.TestApp(application)
        r = testapp.post_json("/users/alice/messages",
                              {"id": "m1", "text": "x" * 200},
                              headers=auth(token), status=413)
        error(r, 413)
        testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=auth(token), status=201)
    finally:
        _close(application)


def test_a_wrong_content_type_is_415(testapp, headers):
    r = testapp.post("/users/alice/messages", '{"id": "m1"}',
                     content_type="text/plain", headers=headers, status=415)
    error(r, 415)


@pytest.mark.parametrize("path", [
    "/nothing", "/users/alice/nothing", "/users/alice/messages/nothing",
])
def test_unknown_paths_are_404(testapp, headers, path):
    error(testapp.get(path, headers=headers, status=404), 404)


def test_an_unknown_user_is_404_for_admins_and_403_for_others(
        testapp, headers, admin_token):
    error(testapp.get("/users/nobody", headers=auth(admin_token),
                      status=404), 404)
    error(testapp.get("/users/nobody", headers=headers, status=403), 403)


def test_wrong_methods_are_405_with_allow(testapp, headers):
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    r = testapp.put_json("/", {}, headers=headers, status=405)
    assert error(r, 405) and r.headers["Allow"] == "GET"
    r = testapp.request("/users/alice/messages/m1", method="OPTIONS",
                        headers=headers, status=405)
    assert "PATCH" in r.headers["Allow"]


def test_writing_into_a_document_as_if_a_set_is_409(testapp, headers):
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    r = testapp.post_json("/users/alice/messages/m1", {"id": "x"},
                          headers=headers, status=409)
    error(r, 409)


def test_writing_a_set_as_if_a_document_is_409(testapp, headers):
    error(testapp.put_json("/users/alice/messages", {"id": "x"},
                           headers=headers, status=409), 409)
    error(testapp.patch_json("/users/alice/messages", {"a": 1},
                             headers=headers, status=409), 409)


def test_post_of_an_existing_id_is_409_and_keeps_the_original(
        testapp, headers):
    testapp.post_json("/users/alice/messages", {"id": "m1", "v": 1},
                      headers=headers)
    error(testapp.post_json("/users/alice/messages", {"id": "m1", "v": 2},
                            headers=headers, status=409), 409)
    error(testapp.post_json("/users/alice/messages", {"set": "m1"},
                            headers=headers, status=409), 409)
    doc = testapp.get("/users/alice/messages/m1", headers=headers).json
    assert doc == {"document": {"id": "m1", "v": 1}}


def test_put_with_another_id_in_the_body_is_422(testapp, headers):
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    error(testapp.put_json("/users/alice/messages/m1", {"id": "m2"},
                           headers=headers, status=422), 422)


def test_a_new_set_with_extra_keys_is_422(testapp, headers):
    error(testapp.post_json("/users/alice/messages",
                            {"set": "s", "extra": 1},
                            headers=headers, status=422), 422)


def test_non_utf8_body_is_400(testapp, headers):
    r = testapp.post("/users/alice/messages", b'{"id": "\xff"}',
                     content_type="application/json", headers=headers,
                     status=400)
    error(r, 400)


def test_an_unexpected_failure_is_a_json_500_that_commits_nothing(
        testapp, headers, app, monkeypatch):
    from myproject.documents import Document

    def broken(self, data):
        self.data = data
        raise RuntimeError("disk on fire")

    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    monkeypatch.setattr(Document, "replace", broken)
    r = testapp.put_json("/users/alice/messages/m1", {"v": 2},
                         headers=headers, status=500)
    assert error(r, 500)["error"] == "internal_server_error"
    assert "fire" not in r.text
    monkeypatch.undo()
    doc = testapp.get("/users/alice/messages/m1", headers=headers).json
    assert doc == {"document": {"id": "m1"}}


def test_conflicts_are_retried_then_reported_as_503(testapp, headers,
                                                    monkeypatch):
    from ZODB.POSException import ConflictError

    from myproject.documents import Document

    attempts = []

    def conflicting(self, data):
        attempts.append(1)
        raise ConflictError()

    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    monkeypatch.setattr(Document, "replace", conflicting)
    r = testapp.put_json("/users/alice/messages/m1", {"v": 2},
                         headers=headers, status=503)
    assert error(r, 503)["error"] == "service_unavailable"
    assert r.headers["Retry-After"] == "1"
    assert len(attempts) == 3  # retry.attempts in the test settings


def test_a_conflict_that_clears_is_retried_transparently(testapp, headers,
                                                         monkeypatch):
    from ZODB.POSException import ConflictError

    from myproject.documents import Document

    real = Document.replace
    attempts = []

    def conflicting_once(self, data):
        attempts.append(1)
        if len(attempts) == 1:
            raise ConflictError()
        return real(self, data)

    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    monkeypatch.setattr(Document, "replace", conflicting_once)
    r = testapp.put_json("/users/alice/messages/m1?generation=4", {"v": 2},
                         headers=headers)
    assert len(attempts) == 2
    assert r.json["updates"]["generation"] == 5


@pytest.mark.parametrize("body", [
    '{"id": "n", "x": NaN}', '{"id": "n", "x": Infinity}',
    '{"id": "n", "x": -Infinity}'])
def test_nan_and_infinity_are_refused(testapp, headers, body, app):
    r = testapp.post("/users/alice/messages", body,
                     content_type="application/json", headers=headers,
                     status=400)
    error(r, 400)
    assert generation_of(app) == 3


@pytest.mark.parametrize("depth, status", [(64, 201), (65, 422), (500, 422),
                                           (5000, 422), (100_000, 422)])
def test_deeply_nested_bodies_are_refused_not_500(testapp, headers, depth,
                                                  status):
    body = '{"id": "deep", "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    r = testapp.post("/users/alice/messages", body,
                     content_type="application/json", headers=headers,
                     status=status)
    if status != 201:
        assert error(r, status)["detail"] == (
            "the body is nested more than 64 levels deep")


def test_a_query_string_that_is_not_utf8_is_400(testapp, headers,
                                                admin_token):
    error(testapp.get("/users/alice?generation=%ff", headers=headers,
                      status=400), 400)
    error(testapp.get("/users/alice/messages?generation=%ff",
                      headers=headers, status=400), 400)
    error(testapp.get("/users?start=%ff", headers=auth(admin_token),
                      status=400), 400)


def test_unicode_digits_are_not_numbers(testapp, admin_token):
    error(testapp.get("/users?limit=%C2%B2", headers=auth(admin_token),
                      status=422), 422)


def test_a_storage_error_while_authenticating_is_a_json_500(
        testapp, headers, monkeypatch):
    from ZODB.POSException import POSKeyError

    from myproject.resources import Site

    def lost(self, token):
        raise POSKeyError(b"\0" * 8)

    monkeypatch.setattr(Site, "user_for_token", lost)
    r = testapp.post_json("/users/alice/messages", {"id": "m1"},
                          headers=headers, status=500)
    assert error(r, 500)["error"] == "internal_server_error"


# Numbers that are not finite, text that is not Unicode, sets nested deeper
# than the bound: refused before anything is saved.

@pytest.mark.parametrize("body", [
    '{"id": "inf", "n": 1e999}', '{"id": "inf", "n": -1e999}',
    '{"id": "inf", "x": {"y": [1, 2e400]}}'])
def test_numbers_that_overflow_to_infinity_are_400(testapp, headers, body,
                                                   app):
    r = testapp.post("/users/alice/messages", body,
                     content_type="application/json", headers=headers,
                     status=400)
    assert "finite" in error(r, 400)["detail"]
    assert generation_of(app) == 3
    assert testapp.get("/users/alice", headers=headers).json[
        "generation"] == 3


def test_huge_integers_are_kept_exactly(testapp, headers):
    big = 10 ** 300
    testapp.post("/users/alice/messages", '{"id": "big", "n": %d}' % big,
                 content_type="application/json", headers=headers,
                 status=201)
    assert testapp.get("/users/alice/messages/big", headers=headers).json[
        "document"]["n"] == big


@pytest.mark.parametrize("path, body", [
    ("/users/alice/messages", r'{"id": "\ud800"}'),
    ("/users/alice/messages", r'{"id": "a\udfffb"}'),
    ("/users/alice/messages", r'{"set": "\udc80"}'),
    ("/users/alice/messages", r'{"id": "ok", "note": "x\ud800"}'),
    ("/users/alice/messages", r'{"id": "ok", "\udc80": 1}'),
    ("/users/alice/messages", r'{"id": "ok", "deep": [{"a": ["\ud83d"]}]}'),
])
def test_lone_surrogates_anywhere_in_a_body_are_400(testapp, headers, app,
                                                    path, body):
    r = testapp.post(path, body, content_type="application/json",
                     headers=headers, status=400)
    assert "surrogate" in error(r, 400)["detail"]
    assert generation_of(app) == 3


def test_a_pair_of_surrogates_is_one_character_and_fine(testapp, headers):
    r = testapp.post("/users/alice/messages", r'{"id": "\ud83d\ude00"}',
                     content_type="application/json", headers=headers,
                     status=201)
    assert r.json["document"]["id"] == "\U0001F600"


def test_a_lone_surrogate_in_a_put_is_400(testapp, headers, app):
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    r = testapp.put("/users/alice/messages/m1", r'{"v": "\ud800"}',
                    content_type="application/json", headers=headers,
                    status=400)
    error(r, 400)
    assert testapp.get("/users/alice/messages/m1", headers=headers).json[
        "document"] == {"id": "m1"}


def test_an_admin_creating_a_user_with_a_lone_surrogate_gets_400(
        testapp, admin_token, app):
    r = testapp.post("/users", r'{"id": "x\ud800"}',
                     content_type="application/json",
                     headers=auth(admin_token), status=400)
    error(r, 400)
    site, conn = site_of(app)
    try:
        assert list(site.users.keys()) == ["root"]
    finally:
        conn.close()


def test_ids_with_surrogates_are_refused_by_the_id_check():
    from myproject.resources import check_id
    with pytest.raises(ValueError):
        check_id("x\ud800")


def nest(testapp, headers, depth):
    """Create sets a/a/.../a, depth of them under alice's tree; return the
    path of the deepest."""
    path = "/users/alice"
    for _ in range(depth):
        testapp.post_json(path, {"set": "a"}, headers=headers, status=201)
        path += "/a"
    return path


def test_sets_nest_32_deep_and_no_deeper(testapp, headers, app):
    from myproject.views.wire import MAX_SET_DEPTH
    assert MAX_SET_DEPTH == 32
    deepest = nest(testapp, headers, 32)
    before = generation_of(app)
    r = testapp.post_json(deepest, {"set": "b"}, headers=headers, status=422)
    assert "32" in error(r, 422)["detail"]
    assert generation_of(app) == before
    # Documents still go into the deepest set.
    testapp.post_json(deepest, {"id": "d"}, headers=headers, status=201)
    assert testapp.get(deepest + "/d", headers=headers).json["document"] == {
        "id": "d"}


BAD_QUERIES = [
    ("generation", "generation=%0A1"), ("generation", "generation=1%0A"),
    ("generation", "generation=+1"), ("generation", "generation=1&generation=2"),
    ("limit", "limit=x"), ("limit", "limit=1&limit=2"), ("limit", "limit=+5"),
    ("wait", "wait=abc"), ("wait", "wait"), ("wait", "wait=%0A5"),
    ("wait", "wait=0"), ("wait", "wait=5&wait=6"),
]


@pytest.mark.parametrize("name, query", BAD_QUERIES)
@pytest.mark.parametrize("method, path", [
    ("GET", "/users/alice"), ("GET", "/users/alice/messages"),
    ("GET", "/users/alice/messages/m1"), ("POST", "/users/alice/messages"),
    ("PUT", "/users/alice/messages/m1"),
])
def test_a_bad_query_parameter_is_400_on_every_url(
        testapp, headers, app, name, query, method, path):
    """Repeated, padded or malformed: refused wherever it is sent, and a
    write with one saves nothing (with or without a generation)."""
    testapp.post_json("/users/alice/messages", {"id": "m1"}, headers=headers)
    before = generation_of(app)
    r = testapp.request(f"{path}?{query}", method=method, headers=headers,
                        body={"GET": b"", "POST": b'{"id": "m2"}',
                              "PUT": b'{"id": "m1", "v": 1}'}[method],
                        content_type="application/json",
                        expect_errors=True)
    assert name in error(r, 400)["detail"]
    assert generation_of(app) == before


@pytest.mark.parametrize("digits", [31, 5000])
def test_a_limit_of_many_digits_is_said_to_be_too_big(testapp, headers,
                                                      digits):
    r = testapp.get("/users/alice?generation=0&limit=1" + "0" * digits,
                    headers=headers, status=400)
    assert error(r, 400)["detail"].startswith("limit must be at most 10000")


def test_leading_zeros_are_digits_too(testapp, headers):
    answer = testapp.get("/users/alice?generation=000&limit=000005&wait=",
                         headers=headers, status=400)  # (wait= is empty)
    assert "wait" in error(answer, 400)["detail"]
    assert testapp.get("/users/alice/messages?generation=000&limit=000005",
                       headers=headers).json == {"generation": 3}


@pytest.mark.parametrize("query", ["wait=abc", "wait", "limit=x",
                                   "generation=x", "generation=1&wait=%FF"])
@pytest.mark.parametrize("user", ["bob", "nosuch"])
def test_without_credentials_a_bad_query_is_the_same_401(testapp, bob, query,
                                                         user):
    for path in (f"/users/{user}", f"/users/{user}/messages"):
        r = testapp.get(f"{path}?{query}", status=401)
        assert r.json == {"error": "unauthorized",
                          "detail": "send Authorization: Bearer <token>"}
