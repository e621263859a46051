"""A database written by the layout before pages (tests/fixtures/layout-0.fs,
made by tests/fixtures/make_layout_0.py with that version) opens, evolves
and serves the same trees: every client of the old database converges."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import webtest
from pyramid.exceptions import ConfigurationError

from myproject import main
from myproject.client import apply_json_updates
from myproject.evolve import LATEST

from .conftest import _close, app_settings, auth

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture
def old_database(tmp_path):
    os.makedirs(tmp_path / "var")
    shutil.copy(os.path.join(FIXTURES, "layout-0.fs"),
                tmp_path / "var" / "Data.fs")
    with open(os.path.join(FIXTURES, "layout-0.json")) as f:
        return json.load(f)


def ini(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text(f"""\
[app:main]
use = egg:myproject
zodbconn.uri = file://{tmp_path}/var/Data.fs
myproject.user_sets = messages tasks
myproject.push.senders = log
""")
    return str(path)


def admin(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "myproject.scripts.admin", ini(tmp_path),
         *args], capture_output=True, text=True, timeout=120)


def test_the_server_refuses_an_old_database_and_says_what_to_run(
        tmp_path, old_database):
    with pytest.raises(ConfigurationError) as caught:
        main({"__file__": ini(tmp_path)}, **app_settings(tmp_path))
    assert str(caught.value) == (
        f"the database is stored in layout 0; this version reads layout "
        f"{LATEST}: stop every server on it and run  myproject-admin "
        f"app.ini evolve")


def test_evolve_upgrades_once_and_every_old_client_converges(
        tmp_path, old_database):
    done = admin(tmp_path, "evolve")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"evolved from layout 0 to {LATEST}"
    again = admin(tmp_path, "evolve")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"the database is at layout {LATEST}: nothing to do")

    app = main({}, **app_settings(tmp_path))
    testapp = webtest.TestApp(app)
    for user, history in old_database["history"].items():
        token = old_database["tokens"][user]
        generations = sorted(int(g) for g in history)
        final = history[str(generations[-1])]
        # The tree holds what it held, under the same ids.
        now = testapp.get(f"/users/{user}?generation=0&limit=10000",
                          headers=auth(token)).json
        state = apply_json_updates({"generation": 0, "contents": {}}, now)
        assert state["contents"] == apply_json_updates(
            {"generation": 0, "contents": {}}, final)["contents"]
        # A client of the old database at any generation it could hold,
        # syncing unpaged or in small pages, ends with that tree.
        for g in generations:
            held = apply_json_updates({"generation": 0, "contents": {}},
                                      history[str(g)])
            held = dict(held, generation=g)
            for limit in (10000, 7):
                mirror = held
                while True:
                    page = testapp.get(
                        f"/users/{user}?generation={mirror['generation']}"
                        f"&limit={limit}", headers=auth(token)).json
                    mirror = apply_json_updates(mirror, page)
                    if not page.get("more"):
                        break
                assert mirror == state, (user, g, limit)
    # And the trees go on working: documents read, edit and share as
    # before (m07 was shared with bob in the old database).
    token = old_database["tokens"]["alice"]
    testapp.post_json("/users/alice/messages", {"id": "new"},
                      headers=auth(token), status=201)
    assert testapp.get("/users/alice/messages/m05", headers=auth(token)
                       ).json["document"] == {"id": "m05", "text": "edited"}
    testapp.put_json("/users/alice/messages/m07", {"id": "m07", "text": "v2"},
                     headers=auth(token))
    bob = old_database["tokens"]["bob"]
    assert testapp.get("/users/bob/messages/m07", headers=auth(bob)
                       ).json["document"] == {"id": "m07", "text": "v2"}
    _close(app)


def test_evolve_writes_every_set_without_attribute_names(
        tmp_path, old_database):
    import ZODB
    import ZODB.FileStorage
    path = str(tmp_path / "var" / "Data.fs")

    def set_records():
        storage = ZODB.FileStorage.FileStorage(path, read_only=True)
        try:
            latest = {}
            for txn in storage.iterator():
                for record in txn:
                    latest[record.oid] = record.data
            return [data for data in latest.values()
                    if b"\nGenerationalSet\n" in data[:80]]
        finally:
            storage.close()

    assert all(b"_generations" in data for data in set_records())
    done = admin(tmp_path, "evolve")
    assert done.returncode == 0, done.stderr
    assert ("layout 3: Sets stored without attribute names (8 sets "
            "written)") in done.stdout.splitlines()
    records = set_records()
    assert len(records) >= 6  # two users' trees of three sets
    assert not any(b"_generations" in data for data in records)


def test_a_database_newer_than_this_version_is_refused(tmp_path):
    import transaction
    import ZODB
    import ZODB.FileStorage
    from myproject.resources import APP_ROOT_NAME, Site
    os.makedirs(tmp_path / "var")
    db = ZODB.DB(ZODB.FileStorage.FileStorage(str(tmp_path / "var" /
                                                  "Data.fs")))
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    with tm:
        site = conn.root()[APP_ROOT_NAME] = Site()
        site.layout = LATEST + 1
    db.close()
    message = (f"the database is stored in layout {LATEST + 1}, newer than "
               f"this version reads (layout {LATEST})")
    with pytest.raises(ConfigurationError) as caught:
        main({"__file__": ini(tmp_path)}, **app_settings(tmp_path))
    assert str(caught.value).startswith(message + ": run the version")
    refused = admin(tmp_path, "evolve")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"myproject-admin: cannot start: {message}: run the version that "
        "wrote it, or a later one\n")
