"""``artwatch alerts ...`` and ``artwatch artist set`` as real processes, including a
dispatcher killed with SIGKILL between sending and marking sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

from pipelines.store.outbox import LEASE
from tests.alerts_support import SECRETS_KEY, add_artist, add_artwork, add_hit, dispatcher

pytest_plugins = ["tests.alerts_servers"]


def _env(mongo_uri: str, db_name: str) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "ARTWATCH_DB_NAME": db_name,
        "ARTWATCH_ALLOW_PRIVATE_HOSTS": "127.0.0.1",
        "SMTP_URL": "",
        "ARTWATCH_PUBLIC_URL": "",
        "ARTWATCH_SECRETS_KEY": SECRETS_KEY,  # what tests.alerts_support.dispatcher opens with
    }


def artwatch(mongo_uri, db_name, cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "artwatch", *args],
        env=_env(mongo_uri, db_name),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_send_list_and_retry(store, receiver, mongo_uri, db_name, tmp_path):
    receiver.statuses = [404]
    artist = add_artist(store, email=None, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))

    sent = artwatch(mongo_uri, db_name, tmp_path, "alerts", "send")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "1 failed"

    listed = artwatch(
        mongo_uri, db_name, tmp_path, "alerts", "list", "--status", "failed", "--json"
    )
    rows = json.loads(listed.stdout)
    assert [(row["channel"], row["status"]) for row in rows] == [("webhook", "failed")]
    assert "HTTP 404" in rows[0]["last_error"]

    again = artwatch(mongo_uri, db_name, tmp_path, "alerts", "retry", "--all")
    assert again.returncode == 0 and again.stdout.strip() == "1 alert back to pending"
    assert artwatch(mongo_uri, db_name, tmp_path, "alerts", "send").stdout.strip() == "1 sent"
    assert receiver.ids == [rows[0]["id"]] * 2

    not_failed = artwatch(mongo_uri, db_name, tmp_path, "alerts", "retry", rows[0]["id"])
    assert not_failed.returncode == 2 and "is not failed" in not_failed.stderr


def test_artist_set_changes_preferences(store, mongo_uri, db_name, tmp_path):
    artist = add_artist(store)
    artist_id = str(artist["_id"])
    done = artwatch(
        mongo_uri, db_name, tmp_path, "artist", "set", artist_id, "--alert-mode", "daily",
        "--min-kind", "near",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert store.artist(artist_id)["alert_mode"] == "daily"
    assert store.artist(artist_id)["min_kind"] == "near"
    artwatch(mongo_uri, db_name, tmp_path, "artist", "set", artist_id, "--min-kind", "any")
    assert store.artist(artist_id)["min_kind"] is None

    missing = artwatch(
        mongo_uri, db_name, tmp_path, "artist", "set", "0" * 24, "--alert-mode", "daily"
    )
    assert missing.returncode == 2 and "no artist" in missing.stderr


def test_killed_dispatcher_means_at_most_one_duplicate_with_the_same_delivery_id(
    store, receiver, mongo_uri, db_name, tmp_path
):
    receiver.hold = threading.Event()  # the receiver sits on the first request
    artist = add_artist(store, email=None, webhook=receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    process = subprocess.Popen(
        [sys.executable, "-m", "artwatch", "alerts", "send"],
        env=_env(mongo_uri, db_name),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert receiver.arrived.wait(60), "the dispatcher never delivered"
    finally:
        os.kill(process.pid, signal.SIGKILL)  # sent, but never marked sent
        process.wait(30)
    receiver.hold.set()

    alert = store.db.alerts.find_one({"channel": "webhook"})
    assert alert["status"] == "sending" and f":{process.pid}:" in alert["claimed_by"]
    now = datetime.now(UTC)
    assert dispatcher(store).run_pass(now) == {}  # its lease still holds
    assert dispatcher(store).run_pass(now + LEASE + timedelta(seconds=1)) == {"sent": 1}
    assert receiver.ids == [str(alert["_id"])] * 2
    assert all(delivery["valid"] for delivery in receiver.deliveries)
    assert dispatcher(store).run_pass(now + timedelta(days=1)) == {}
