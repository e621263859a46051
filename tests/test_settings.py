"""Settings: one table, parsed once, every problem named in one error."""
import os
import re

import pytest
from pyramid.exceptions import ConfigurationError

from myproject import main
from myproject.settings import SETTINGS, app_settings, parse, table

from .conftest import _close
from .conftest import app_settings as settings_for

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs",
                    "settings.txt")
BASE = {"zodbconn.uri": "memory://"}


def documented_rows():
    """Return {key: (type, default)} from the table in docs/settings.txt."""
    with open(DOCS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    first, _, last = rules[0], rules[1], rules[2]
    widths = [len(cell) for cell in lines[first].split("  ") if cell]
    rows = {}
    for line in lines[rules[1] + 1:last]:
        cells, start = [], 0
        for width in widths[:3]:
            cells.append(line[start:start + width].strip())
            start += width + 2
        rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_the_docs_table_is_the_settings_module_s():
    with open(DOCS, encoding="utf-8") as f:
        assert table() in f.read()


def test_every_key_is_documented_with_its_default():
    rows = documented_rows()
    assert list(rows) == [s.key for s in SETTINGS]
    for setting in SETTINGS:
        kind, default = rows[setting.key]
        assert kind == setting.kind.name, setting.key
        shown = {None: "(required)", "": "(empty)"}.get(setting.default,
                                                        setting.default)
        assert default == shown, setting.key


def test_the_documented_defaults_are_the_parsed_defaults():
    _, parsed = parse(BASE)
    for setting in SETTINGS:
        if setting.default:
            assert parsed[setting.key] == setting.kind.parse(setting.default)
    assert parsed.sync_page_size == 1000
    assert parsed.sync_max_page_size == 10000
    assert parsed.max_body_size == 1024 * 1024
    assert parsed.push_senders == ["log"]
    assert parsed.push_apns_server is None
    assert parsed.user_sets == ()


def test_values_are_typed():
    _, parsed = parse(dict(BASE, **{
        "myproject.user_sets": "messages\ntasks",
        "myproject.push.coalesce_window": "0",
        "myproject.jwt.create_users": "no",
        "myproject.push.apns.server": "[::1]:2197",
    }))
    assert parsed.user_sets == ["messages", "tasks"]
    assert parsed.push_coalesce_window == 0.0
    assert parsed.jwt_create_users is False
    assert parsed.push_apns_server == ("::1", 2197)


@pytest.mark.parametrize("key, value, message", [
    ("myproject.max_body_size", "big", "an integer >= 1 is needed, not 'big'"),
    ("myproject.max_body_size", "0", "an integer >= 1 is needed, not '0'"),
    ("myproject.sync.page_size", "1.5", "an integer >= 1"),
    ("myproject.tree_lock_timeout", "inf", "seconds > 0"),
    ("myproject.push.backoff_base", "-1", "seconds >= 0"),
    ("myproject.jwt.create_users", "maybe", "true or false"),
    ("myproject.push.senders", "log sms", "unknown 'sms'"),
    ("myproject.user_sets", "a @@b", "must not be '.', '..' or start"),
    ("myproject.push.apns.server", "localhost", "host:port"),
    ("myproject.admin.session_secret", "short", "at least 32 characters"),
    ("myproject.admin.password_hash", "secret", "not a password hash"),
])
def test_a_bad_value_is_a_configuration_error_naming_its_key(key, value,
                                                            message):
    with pytest.raises(ConfigurationError) as info:
        parse(dict(BASE, **{key: value}))
    assert str(info.value).startswith(f"{key}: ")
    assert message in str(info.value)


def test_every_problem_is_listed_in_one_error():
    with pytest.raises(ConfigurationError) as info:
        parse({
            "zodbconn.uri": "${NO_SUCH_URI_VARIABLE}",
            "myproject.admin.session_secret": "${NO_SUCH_SECRET_VARIABLE}",
            "myproject.max_body_size": "big",
            "myproject.push.queue_size": "-3",
            "myproject.push.senders": "apns",
        }, environ={})
    message = str(info.value)
    assert message.startswith("8 problems in the settings:")
    # The missing variable is the one problem said of its key.
    assert "zodbconn.uri: is required" not in message
    for expected in [
            "zodbconn.uri: environment variable NO_SUCH_URI_VARIABLE is not set",
            "myproject.admin.session_secret: environment variable "
            "NO_SUCH_SECRET_VARIABLE is not set",
            "myproject.max_body_size: an integer >= 1",
            "myproject.push.queue_size: an integer >= 1",
            "myproject.push.apns.key_file is required for apns",
            "myproject.push.apns.key_id is required for apns",
            "myproject.push.apns.team_id is required for apns",
            "myproject.push.apns.topic is required for apns"]:
        assert expected in message


def test_the_environment_fills_in_values():
    expanded, parsed = parse(dict(BASE, **{
        "myproject.max_body_size": "${BODY_SIZE}"}), environ={
            "BODY_SIZE": "2048"})
    assert parsed.max_body_size == 2048
    assert expanded["myproject.max_body_size"] == "2048"


def test_the_largest_page_is_no_smaller_than_a_page():
    with pytest.raises(ConfigurationError, match=re.escape(
            "myproject.sync.max_page_size: 10 is less than "
            "myproject.sync.page_size (20)")):
        parse(dict(BASE, **{"myproject.sync.page_size": "20",
                            "myproject.sync.max_page_size": "10"}))
    _, parsed = parse(dict(BASE, **{"myproject.sync.page_size": "20",
                                    "myproject.sync.max_page_size": "20"}))
    assert parsed.sync_max_page_size == 20


def test_the_app_keeps_parsed_values_apart_from_the_raw_settings(tmp_path):
    application = main({}, **settings_for(
        tmp_path, **{"myproject.max_body_size": "100"}))
    try:
        registry = application.registry
        assert app_settings(registry).max_body_size == 100
        assert registry.settings["myproject.max_body_size"] == "100"
        assert registry.settings["myproject.user_sets"] == "messages tasks"
    finally:
        _close(application)


def test_a_bad_setting_stops_the_app_with_the_key_named(tmp_path):
    with pytest.raises(ConfigurationError, match=r"myproject\.push\.max_devices"):
        main({}, **settings_for(
            tmp_path, **{"myproject.push.max_devices": "lots"}))
