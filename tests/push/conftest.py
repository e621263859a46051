"""Fixtures: fake APNs/FCM servers on loopback and dispatchers aimed at them.

The servers start once per session; ``fake_apns``/``fake_fcm`` hand them
to a test with no recorded requests and no scripts.  ``settings`` are the
``myproject.push.*`` settings pointing at both; ``make_dispatcher`` builds
(and starts) dispatchers from them and stops them after the test.
"""
import threading

import pytest

from myproject.push import build_dispatcher
from myproject.settings import parse

from .fakes import FakeAPNs, FakeFCM, push_settings, write_apns_key


@pytest.fixture(scope="session")
def apns_server():
    with FakeAPNs() as server:
        yield server


@pytest.fixture(scope="session")
def fcm_server():
    with FakeFCM() as server:
        yield server


@pytest.fixture
def fake_apns(apns_server):
    apns_server.reset()
    yield apns_server
    apns_server.reset()


@pytest.fixture
def fake_fcm(fcm_server):
    fcm_server.reset()
    yield fcm_server
    fcm_server.reset()


@pytest.fixture(scope="session")
def push_files(tmp_path_factory, apns_server, fcm_server):
    """Key, CA and service-account files for the fakes (written once)."""
    folder = tmp_path_factory.mktemp("push")
    files = {
        "apns_key_file": str(folder / "AuthKey_KEYID12345.p8"),
        "ca_file": apns_server.write_ca(folder / "ca.pem"),
        "service_account_file": fcm_server.write_service_account(
            folder / "service-account.json"),
    }
    files["apns_public_key"] = write_apns_key(files["apns_key_file"])
    return files


@pytest.fixture
def settings(fake_apns, fake_fcm, push_files):
    """Settings sending APNs and FCM pushes to the fakes, retrying quickly."""
    return push_settings(
        apns=fake_apns, apns_key_file=push_files["apns_key_file"],
        ca_file=push_files["ca_file"], fcm=fake_fcm,
        service_account_file=push_files["service_account_file"])


class Pruned(list):
    """A ``prune`` callable recording (user_id, device, thread name)."""

    def __call__(self, user_id, device):
        self.append((user_id, device, threading.current_thread().name))


@pytest.fixture
def pruned():
    return Pruned()


def dispatcher_from(settings, *, prune=None):
    """Return build_dispatcher() of these ``myproject.push.*`` settings, parsed
    as the app parses its own (which needs a storage URI besides)."""
    _, parsed = parse(dict({"zodbconn.uri": "memory://"}, **settings))
    return build_dispatcher(parsed, prune=prune)


@pytest.fixture
def make_dispatcher(settings, pruned):
    """Return ``make(start=True, **overrides)`` building from ``settings``
    (overrides are keys without the ``myproject.push.`` prefix)."""
    made = []

    def make(start=True, **overrides):
        merged = dict(settings)
        merged.update({"myproject.push." + k: str(v)
                       for k, v in overrides.items()})
        dispatcher = dispatcher_from(merged, prune=pruned)
        made.append(dispatcher)
        if start:
            dispatcher.start()
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.stop(timeout=1)
