"""Webhook secrets: encrypted in the database, migrated from plain text at start-up, never in
DEBUG logs, and still signing deliveries a real receiver verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from bson import json_util
from cryptography.fernet import Fernet

from artwatch.sealed import SecretBox
from tests.alerts_support import SECRET, add_artist, add_artwork, add_hit

pytest_plugins = ["tests.alerts_servers"]

DISPATCH_PASS = textwrap.dedent(
    """
    import logging

    from artwatch.alerts import dispatch
    from artwatch.context import open_store
    from artwatch.service import configure_logging
    from artwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings)  # as `artwatch run` does
    logging.getLogger("probe").debug("the log is at DEBUG")
    with open_store(settings) as store:
        print(dict(dispatch(store, settings)))
    """
)


def artwatch_env(mongo_uri, store, data_dir, **extra) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "ARTWATCH_DB_NAME": store.db.name,
        "ARTWATCH_DATA_DIR": str(data_dir),
        "ARTWATCH_ALLOW_PRIVATE_HOSTS": "127.0.0.1",
        **extra,
    }


def dump(store) -> str:
    """What a database dump would hold: every document of every collection."""
    names = store.db.list_collection_names()
    return json_util.dumps({name: list(store.db[name].find()) for name in names})


def test_a_plain_secret_is_encrypted_at_start_and_never_logged(
    store, mongo_uri, receiver, tmp_path
):
    artist = add_artist(store, webhook=receiver.url)  # stored in plain text, as releases did
    add_hit(store, artist, add_artwork(store, artist))
    assert SECRET in dump(store)

    env = artwatch_env(mongo_uri, store, tmp_path, ARTWATCH_LOG_LEVEL="DEBUG")
    result = subprocess.run(
        [sys.executable, "-c", DISPATCH_PASS], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "'sent': 1" in result.stdout
    assert "the log is at DEBUG" in result.stderr
    assert SECRET not in result.stderr + result.stdout

    # The receiver verified the signature made with the original secret...
    assert [delivery["valid"] for delivery in receiver.deliveries] == [True]
    # ...and the database now holds it only encrypted, under the key in the data dir.
    assert SECRET not in dump(store)
    stored = store.artist(str(artist["_id"]))["webhook_secret"]
    key_file = tmp_path / "secrets.key"
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)
    assert SecretBox(key_file.read_bytes()).open(stored) == SECRET


def test_the_key_can_come_from_the_environment_and_a_bad_one_is_named(store, mongo_uri, tmp_path):
    key = Fernet.generate_key().decode()
    env = artwatch_env(mongo_uri, store, tmp_path, ARTWATCH_SECRETS_KEY=key)
    command = [sys.executable, "-m", "artwatch", "artist", "add", "Bo", "--email", "b@example.org"]
    added = subprocess.run(
        [*command, "--webhook", "https://hooks.example/x", "--webhook-secret", "s3cret-value"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    stored = store.artist(added.stdout.strip())["webhook_secret"]
    assert "s3cret-value" not in dump(store)
    assert SecretBox(key).open(stored) == "s3cret-value"
    assert not (tmp_path / "secrets.key").exists()

    env["ARTWATCH_SECRETS_KEY"] = "not-a-key"
    refused = subprocess.run(
        [sys.executable, "-m", "artwatch", "artist", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert "ARTWATCH_SECRETS_KEY" in line


def test_a_wrong_key_makes_webhooks_wait_instead_of_failing(store, receiver):
    from artwatch.alerts.dispatcher import Dispatcher
    from artwatch.alerts.webhook import WebhookChannel
    from artwatch.settings import Alerts

    artist = add_artist(store, email=None, webhook=receiver.url)
    sealed = SecretBox(Fernet.generate_key()).seal(SECRET)
    store.update_artist(str(artist["_id"]), {"webhook_secret": sealed})
    add_hit(store, artist, add_artwork(store, artist))
    other_key = SecretBox(Fernet.generate_key())
    channels = {"webhook": WebhookChannel(("127.0.0.1",), timeout=5, secret_box=other_key)}
    assert Dispatcher(store, channels, Alerts()).run_pass() == {"channel_down": 1}
    assert receiver.deliveries == []
    assert "ARTWATCH_SECRETS_KEY" in json.dumps(
        store.db.alerts.find_one({"channel": "webhook"})["last_error"]
    )
