"""``GET /__api__`` serves the OpenAPI 3.1 document, and real answers of
every operation (successes and errors) conform to it (openapi-core)."""
import json
from importlib.resources import files

import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from .conftest import auth

SPEC = json.loads(files("myproject").joinpath("openapi.json").read_text())
API = OpenAPI.from_dict(SPEC)
OPERATIONS = {(path, method) for path, item in SPEC["paths"].items()
              for method in item}


class Checked:
    """WebTest calls whose answers are validated against the document;
    remembers (path template, method, status) of each."""

    def __init__(self, testapp):
        self.testapp = testapp
        self.seen = set()

    def __call__(self, template, method, path, status, body=None,
                 headers=None, raw=None, content_type="application/json"):
        headers = dict(headers or {})
        if body is not None:
            raw = json.dumps(body).encode()
        r = self.testapp.request(
            path, method=method.upper(), headers=headers, status=status,
            body=raw or b"", content_type=content_type if raw else None)
        path_only, _, query = path.partition("?")
        args = dict(p.split("=", 1) for p in query.split("&") if p)
        request = MockRequest("http://localhost", method, path_only,
                              args=args, headers=headers)
        response = MockResponse(r.body, status_code=r.status_int,
                                headers=dict(r.headers),
                                content_type=r.content_type or None)
        API.validate_response(request, response)
        self.seen.add((template, method, r.status_int))
        return r


def test_the_document_is_valid_openapi_3_1_and_served(testapp):
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")
    r = testapp.get("/__api__")
    assert r.content_type == "application/json" and r.json == SPEC


def test_every_operation_answers_as_documented(testapp, app, alice, bob,
                                               admin_token):
    call = Checked(testapp)
    A, B, ROOT = auth(alice), auth(bob), auth(admin_token)
    U, S, N, SH = ("/users/{user}", "/users/{user}/{set}",
                   "/users/{user}/{set}/{name}",
                   "/users/{user}/{set}/{document}/@@share")
    TK, TK1 = "/users/{user}/@@tokens", "/users/{user}/@@tokens/{token_id}"
    DV, DV1 = "/users/{user}/@@devices", "/users/{user}/@@devices/{token}"

    call("/", "get", "/", 200)
    call("/__api__", "get", "/__api__", 200)
    call("/@@push", "get", "/@@push", 200, headers=ROOT)
    call("/@@push", "get", "/@@push", 401)
    call("/@@push", "get", "/@@push", 403, headers=A)

    call("/users", "get", "/users?limit=1", 200, headers=ROOT)
    call("/users", "get", "/users?limit=x", 422, headers=ROOT)
    call("/users", "get", "/users?start=%ff", 400, headers=ROOT)
    call("/users", "get", "/users", 403, headers=A)
    new = call("/users", "post", "/users", 201, {"id": "carol"},
               headers=ROOT).json
    call("/users", "post", "/users", 409, {"id": "carol"}, headers=ROOT)
    call("/users", "post", "/users", 422, {"id": ""}, headers=ROOT)
    call("/users", "post", "/users", 400, raw=b'{"id": "x\\ud800"}',
         headers=ROOT)
    call("/users", "post", "/users", 415, raw=b"id=x", headers=ROOT,
         content_type="application/x-www-form-urlencoded")
    call("/users", "post", "/users", 401, {"id": "dan"})

    call(U, "get", "/users/alice", 200, headers=A)
    etag = testapp.get("/users/alice", headers=A).headers["ETag"]
    call(U, "get", "/users/alice", 304, headers=dict(A, **{
        "If-None-Match": etag}))
    call(U, "get", "/users/alice?limit=1", 200, headers=A)
    call(U, "get", "/users/alice?limit=0", 400, headers=A)
    call(U, "get", "/users/alice?generation=-1", 400, headers=A)
    call(U, "get", "/users/nosuch", 401)
    call(U, "get", "/users/nosuch", 403, headers=A)
    call(U, "get", "/users/nosuch", 404, headers=ROOT)
    call(U, "post", "/users/alice?generation=0", 201, {"id": "top"},
         headers=A)
    call(U, "post", "/users/alice", 201, {"set": "box"}, headers=A)
    call(U, "post", "/users/alice", 409, {"set": "box"}, headers=A)
    call(U, "post", "/users/alice", 400, raw=b'{"id": "i", "n": 1e999}',
         headers=A)
    call(U, "post", "/users/alice", 422, raw=b"[]", headers=A)
    call(U, "delete", "/users/carol", 200, headers=ROOT)
    call(U, "delete", "/users/alice", 403, headers=A)

    call(S, "get", "/users/alice/messages", 200, headers=A)
    call(S, "get", "/users/alice/top", 200, headers=A)
    call(S, "get", "/users/alice/nothing", 404, headers=A)
    call(S, "get", "/users/bob/messages", 403, headers=A)
    call(S, "post", "/users/alice/messages", 201, {"id": "m1"}, headers=A)
    call(S, "post", "/users/alice/messages", 201, {"set": "sub"}, headers=A)
    call(S, "post", "/users/alice/messages", 409, {"id": "m1"}, headers=A)
    call(S, "post", "/users/alice/messages", 422, {"id": 5}, headers=A)
    call(S, "post", "/users/alice/top", 409, {"id": "x"}, headers=A)
    call(S, "put", "/users/alice/top?generation=1", 200, {"v": 1},
         headers=A)
    call(S, "put", "/users/alice/messages", 409, {"v": 1}, headers=A)
    call(S, "patch", "/users/alice/top", 200, {"v": None}, headers=A)
    call(S, "patch", "/users/alice/top", 422, {"id": "other"}, headers=A)
    call(S, "delete", "/users/alice/box", 200, headers=A)
    call(S, "delete", "/users/alice/box", 404, headers=A)
    call(S, "delete", "/users/bob/messages", 403, headers=A)

    call(N, "get", "/users/alice/messages/m1", 200, headers=A)
    call(N, "get", "/users/alice/messages/sub?generation=0", 200, headers=A)
    call(N, "get", "/users/alice/messages/nope", 404, headers=A)
    call(N, "get", "/users/alice/messages/m1", 401)
    call(N, "post", "/users/alice/messages/sub", 201, {"id": "s1"},
         headers=A)
    call(N, "post", "/users/alice/messages/m1", 409, {"id": "s1"},
         headers=A)
    call(N, "put", "/users/alice/messages/m1", 200, {"text": "hi"},
         headers=A)
    call(N, "put", "/users/alice/messages/m1", 400, raw=b'{"t": "\\udc80"}',
         headers=A)
    call(N, "put", "/users/alice/messages/m1", 415, raw=b"x", headers=A,
         content_type="text/plain")
    call(N, "patch", "/users/alice/messages/m1?generation=2", 200,
         {"more": 1}, headers=A)
    call(N, "patch", "/users/alice/messages/sub", 409, {"more": 1},
         headers=A)
    call(N, "delete", "/users/alice/messages/s1", 404, headers=A)
    call(N, "delete", "/users/alice/messages/sub", 200, headers=A)

    call(SH, "post", "/users/alice/messages/m1/@@share", 200,
         {"users": ["bob"]}, headers=A)
    call(SH, "post", "/users/alice/messages/m1/@@share", 422,
         {"users": ["a/b"]}, headers=A)
    call(SH, "post", "/users/bob/messages/m1/@@share", 403,
         {"users": ["alice"]}, headers=B)
    call(N, "delete", "/users/bob/messages/m1", 200, headers=B)

    call(TK, "get", "/users/alice/@@tokens", 200, headers=ROOT)
    call(TK, "get", "/users/alice/@@tokens", 403, headers=A)
    made = call(TK, "post", "/users/alice/@@tokens", 201, {"label": "x"},
                headers=ROOT).json
    call(TK, "post", "/users/alice/@@tokens", 422, {"label": 5},
         headers=ROOT)
    call(TK1, "delete", f"/users/alice/@@tokens/{made['id']}", 200,
         headers=ROOT)
    call(TK1, "delete", f"/users/alice/@@tokens/{made['id']}", 404,
         headers=ROOT)
    call(TK1, "delete", "/users/alice/@@tokens/x", 403, headers=A)

    push = "d" * 64
    call(DV, "get", "/users/alice/@@devices", 200, headers=A)
    call(DV, "get", "/users/alice/@@devices", 401)
    call(DV, "post", "/users/alice/@@devices", 201,
         {"platform": "apns", "token": push}, headers=A)
    call(DV, "post", "/users/alice/@@devices", 422,
         {"platform": "nokia", "token": push}, headers=A)
    call(DV1, "delete", f"/users/alice/@@devices/{push}", 200, headers=A)
    call(DV1, "delete", f"/users/alice/@@devices/{push}", 404, headers=A)
    call(DV1, "delete", f"/users/bob/@@devices/{push}", 403, headers=A)

    call(S, "post", "/users/alice/%FF", 400, {"id": "x"}, headers=A)
    call(S, "delete", "/users/alice/messages", 200, headers=A)

    statuses = {}
    for template, method, status in call.seen:
        statuses.setdefault((template, method), set()).add(status)
    assert set(statuses) == OPERATIONS, OPERATIONS ^ set(statuses)
    for operation, seen in statuses.items():
        if operation != ("/__api__", "get") and operation != ("/", "get"):
            assert any(s < 400 for s in seen) and any(s >= 400 for s in seen), (
                operation, seen)
    assert new["token"]
