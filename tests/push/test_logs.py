"""Whatever happens to a push, no device token and no key reaches the logs."""
import logging
import secrets

from myproject.push import Device
from myproject.push.sender import token_hash

from .fakes import Answer, FakeFCM, eventually


def test_no_token_or_key_in_any_log_record(
        make_dispatcher, fake_apns, fake_fcm, push_files, caplog):
    caplog.set_level(logging.DEBUG)
    answers_apns = [[200], [410], [Answer(400, "BadDeviceToken")],
                    [503, 200], [Answer(403, "InvalidProviderToken")], [429]]
    answers_fcm = [[200], [404], [FakeFCM.INVALID_TOKEN],
                   [Answer(429, retry_after=0), 200], [Answer(400)], [503]]
    devices = []
    for platform, fake, scripts in (("apns", fake_apns, answers_apns),
                                    ("fcm", fake_fcm, answers_fcm)):
        for script in scripts:
            token = secrets.token_hex(32)
            fake.answer(token, *script)
            devices.append(Device(platform, token))
    dispatcher = make_dispatcher()
    dispatcher.submit("alice", 3, devices)
    eventually(lambda: dispatcher.stats()["queue_depth"] == 0)
    dispatcher.stop()

    stats = dispatcher.stats()
    assert stats["sent"] == 4 and stats["pruned"] == 4 and stats["failed"] == 4
    with open(push_files["apns_key_file"]) as f:
        key_lines = [line for line in f.read().splitlines()
                     if line and not line.startswith("-----")]
    with open(push_files["service_account_file"]) as f:
        service_account = f.read()
    logged = caplog.text            # every record, tracebacks included
    assert "myproject.push" in logged
    for device in devices:
        assert device.token not in logged
        assert device.token[:16] not in logged
    for line in key_lines:
        assert line not in logged
    assert "BEGIN PRIVATE KEY" not in logged
    assert service_account[:40] not in logged
    assert "ya29.fake-" not in logged
    assert "bearer ey" not in logged.lower()
    # The devices that were pruned or given up are named, by a hash.
    named = [d for d in devices if token_hash(d.token) in logged]
    assert len(named) >= 8
