"""The ``wait`` parameter of a poll, through WebTest (in-process mode)."""
import pytest

from .conftest import auth


@pytest.mark.parametrize("wait", ["0", "31", "-1", "x", "1.5", "", "%D9%A3"])
def test_a_wait_outside_1_to_30_seconds_is_a_400(testapp, alice, wait):
    response = testapp.get(f"/users/alice?generation=3&wait={wait}",
                           headers=auth(alice), status=400)
    assert response.json["error"] == "bad_request"
    assert "wait must be a whole number of seconds from 1 to 30" in (
        response.json["detail"])


def test_a_poll_with_updates_is_answered_at_once(testapp, alice):
    response = testapp.get("/users/alice?generation=0&wait=30",
                           headers=auth(alice))
    assert response.json["generation"] == 3
    assert response.json["adds"]


def test_a_live_poll_is_never_told_304(testapp, alice):
    response = testapp.get("/users/alice?generation=2&wait=30", headers={
        **auth(alice), "If-None-Match": '"3"'})
    assert response.status_int == 200 and response.json["generation"] == 3


def test_a_refused_live_poll_is_refused_at_once(testapp, alice):
    testapp.get("/users/alice?generation=3&wait=30", status=401)
