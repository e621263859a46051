"""schemathesis over every operation of ``/__api__``, against the WSGI app
as an admin and as a user: no 5xx, and every answer conforms (status,
content type, headers, body).  Bounded: a few examples per operation."""
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from .conftest import auth

EXAMPLES = 8
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance,
          checks.response_headers_conformance,
          checks.response_schema_conformance]
BUDGET = 60  # seconds for all operations together, from the first call
_clock = {}


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/__api__", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
def test_no_operation_fails_or_answers_off_the_document(case, app, alice,
                                                        admin_token):
    started = _clock.setdefault("started", time.monotonic())
    assert time.monotonic() - started < BUDGET, "over the time budget"
    for token in (admin_token, alice):
        case.call_and_validate(headers=auth(token), checks=CHECKS)


def test_schemathesis_sees_every_operation(app):
    import json
    from importlib.resources import files
    spec = json.loads(files("myproject").joinpath("openapi.json").read_text())
    loaded = schemathesis.openapi.from_wsgi("/__api__", app)
    found = {(op.path, op.method.lower())
             for op in (result.ok() for result in loaded.get_all_operations())}
    # schemathesis leaves out the document's own address.
    assert found == {(p, m) for p, item in spec["paths"].items()
                     for m in item} - {("/__api__", "get")}
