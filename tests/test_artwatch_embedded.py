"""The embedded nx-27017 server: started, reused, survives a SIGKILLed ArtWatch, stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from artwatch.embedded import EmbeddedMongo, answers_ping

WRITER = textwrap.dedent(
    """
    import sys, time
    from artwatch.context import open_store
    with open_store() as store:
        store.add_artist("Ana", "ana@example.org")
        print(store.uri, flush=True)
        time.sleep(600)
    """
)


def environment(data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return {**env, "ARTWATCH_DATA_DIR": str(data_dir)}


def artists(data_dir) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "artwatch", "artist", "list", "--json"],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def server_pid(data_dir) -> int:
    return json.loads((data_dir / "mongo" / "server.json").read_text())["pid"]


def kill_server(data_dir) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        os.kill(server_pid(data_dir), signal.SIGKILL)


def start_writer(data_dir) -> tuple[subprocess.Popen, str]:
    """An ArtWatch process that starts the embedded server, writes, and waits to be killed."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER], env=environment(data_dir), stdout=subprocess.PIPE, text=True
    )
    return writer, writer.stdout.readline().strip()


@pytest.fixture
def data_dir(tmp_path):
    yield tmp_path
    kill_server(tmp_path)


def test_data_survives_a_sigkilled_artwatch_and_a_sigkilled_server(data_dir):
    writer, uri = start_writer(data_dir)
    assert uri.startswith("mongodb://127.0.0.1:")
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)

    # The orphaned server is found and reused: same port, data there.
    assert [artist["name"] for artist in artists(data_dir)] == ["Ana"]
    assert answers_ping(uri)

    # Server killed too: a new one starts on the same files and finds the data.
    kill_server(data_dir)
    time.sleep(0.2)
    assert [artist["name"] for artist in artists(data_dir)] == ["Ana"]
    assert not answers_ping(uri)


def test_second_process_reuses_the_running_server_and_leaves_it_running(data_dir):
    owner = EmbeddedMongo(data_dir)
    uri = owner.start()
    try:
        guest = EmbeddedMongo(data_dir)
        assert guest.start() == uri
        assert not guest.owned
        guest.stop()
        assert answers_ping(uri)
        artists(data_dir)  # a whole CLI process reuses it too, and does not stop it
        assert answers_ping(uri)
    finally:
        owner.stop()
    assert not answers_ping(uri)
    assert not (data_dir / "mongo" / "server.json").exists()


def test_sigterm_stops_the_server_it_started(data_dir):
    writer, uri = start_writer(data_dir)
    pid = server_pid(data_dir)
    writer.send_signal(signal.SIGTERM)
    assert writer.wait(20) == 143
    assert not answers_ping(uri)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_nothing_is_started_when_mongodb_uri_is_set(data_dir, mongo_uri, db_name):
    env = {**environment(data_dir), "MONGODB_URI": mongo_uri, "ARTWATCH_DB_NAME": db_name}
    subprocess.run(
        [sys.executable, "-m", "artwatch", "artist", "list"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert not (data_dir / "mongo").exists()
