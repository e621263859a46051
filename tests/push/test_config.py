"""build_dispatcher: parsed settings in, a dispatcher (not started) out."""
import logging
import threading

import pytest
from pyramid.exceptions import ConfigurationError

from myproject.push import Device, Dispatcher
from myproject.push.apns import APNsSender
from myproject.push.fcm import FCMSender
from myproject.push.log import LogSender
from myproject.settings import HostPort

from .conftest import dispatcher_from as build_dispatcher
from .fakes import eventually

P = "myproject.push."


def senders_of(dispatcher):
    return dispatcher.senders


def test_without_settings_pushes_are_only_logged_and_nothing_starts():
    dispatcher = build_dispatcher({})
    assert isinstance(dispatcher, Dispatcher)
    senders = senders_of(dispatcher)
    assert set(senders) == {"apns", "fcm"}
    assert all(isinstance(s, LogSender) for s in senders.values())
    assert not any(t.name == "push-dispatcher" for t in threading.enumerate())


def test_the_log_sender_logs_a_hash_of_the_token_never_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    dispatcher = build_dispatcher({P + "senders": "log",
                                   P + "coalesce_window": "0"})
    dispatcher.start()
    try:
        dispatcher.submit("alice", 12, [Device("apns", "secret-apns-token"),
                                        Device("fcm", "secret-fcm-token")])
        eventually(lambda: dispatcher.stats()["sent"] == 2)
    finally:
        dispatcher.stop()
    assert "secret-" not in caplog.text
    lines = [r.getMessage() for r in caplog.records
             if r.name == "myproject.push.log"]
    assert len(lines) == 2
    assert all("user alice generation 12" in line for line in lines)


def test_listed_senders_serve_their_platform_and_log_serves_the_rest(settings):
    dispatcher = build_dispatcher(dict(settings, **{P + "senders": "log apns"}))
    senders = senders_of(dispatcher)
    assert isinstance(senders["apns"], APNsSender)
    assert isinstance(senders["fcm"], LogSender)


def test_both_real_senders(settings):
    senders = senders_of(build_dispatcher(settings))
    assert isinstance(senders["apns"], APNsSender)
    assert isinstance(senders["fcm"], FCMSender)


def test_an_unknown_sender_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="webpush"):
        build_dispatcher({P + "senders": "apns\nwebpush"})


@pytest.mark.parametrize("missing", [
    "apns.key_file", "apns.key_id", "apns.team_id", "apns.topic"])
def test_apns_needs_its_credentials(settings, missing):
    settings = dict(settings, **{P + "senders": "apns", P + missing: ""})
    with pytest.raises(ConfigurationError, match=missing.replace(".", r"\.")):
        build_dispatcher(settings)


def test_a_missing_apns_key_file_is_a_configuration_error(settings, tmp_path):
    settings = dict(settings, **{P + "apns.key_file": str(tmp_path / "no.p8")})
    with pytest.raises(ConfigurationError, match="cannot read"):
        build_dispatcher(settings)


def test_an_apns_key_file_without_a_key_is_a_configuration_error(
        settings, tmp_path):
    bogus = tmp_path / "AuthKey.p8"
    bogus.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    settings = dict(settings, **{P + "apns.key_file": str(bogus)})
    with pytest.raises(ConfigurationError, match="cannot sign") as info:
        build_dispatcher(settings)
    assert "nope" not in str(info.value)


def test_fcm_needs_a_readable_service_account(settings, tmp_path):
    with pytest.raises(ConfigurationError, match="service_account_file"):
        build_dispatcher(dict(settings, **{P + "fcm.service_account_file": ""}))
    with pytest.raises(ConfigurationError, match="cannot read"):
        build_dispatcher(dict(settings, **{
            P + "fcm.service_account_file": str(tmp_path / "none.json")}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "service_account"}')
    with pytest.raises(ConfigurationError, match="broken.json"):
        build_dispatcher(dict(settings, **{
            P + "fcm.service_account_file": str(broken)}))


@pytest.mark.parametrize("key", [
    "coalesce_window", "queue_size", "max_attempts", "backoff_base",
    "backoff_max", "send_timeout", "apns.pool_size", "apns.timeout",
    "fcm.timeout", "fcm.workers"])
def test_a_number_that_is_not_one_is_a_configuration_error(settings, key):
    with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
        build_dispatcher(dict(settings, **{P + key: "many"}))


def test_bad_option_values_are_refused(settings):
    with pytest.raises(ConfigurationError, match="max_attempts"):
        build_dispatcher(dict(settings, **{P + "max_attempts": "0"}))


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:8443", ("127.0.0.1", 8443)),
    ("api.push.apple.com:443", ("api.push.apple.com", 443)),
    ("[::1]:2197", ("::1", 2197)),
    ("", None),
])
def test_server_overrides_are_host_and_port(value, expected):
    _, parsed = _parse_server(value)
    assert parsed.push_apns_server == expected


@pytest.mark.parametrize("value", ["localhost", "localhost:", ":443",
                                   "host:https"])
def test_a_server_override_without_a_port_is_refused(value):
    with pytest.raises(ConfigurationError, match=r"apns\.server: host:port"):
        _parse_server(value)
    with pytest.raises(ValueError):
        HostPort().parse(value)


def _parse_server(value):
    from myproject.settings import parse
    return parse({"zodbconn.uri": "memory://", P + "apns.server": value})
