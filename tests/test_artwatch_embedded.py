"""The embedded nx-27017 server: started, reused, survives a SIGKILLed ArtWatch, stopped."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
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
    )
    assert result.returncode == 0, result.stderr
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
    assert uri.startswith("mongodb://%2F") and uri.endswith(".sock/")
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


SYSTEM_PYTHON = "/usr/bin/python3"
CONNECT = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
PING = "import sys; from pymongo import MongoClient; " + (
    "MongoClient(sys.argv[1], serverSelectionTimeoutMS=3000).admin.command('ping')"
)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_data_dir_and_database_files_are_private_whatever_the_umask(data_dir, umask):
    data_dir.chmod(0o755)  # made by an older release, or by hand: tightened
    subprocess.run(
        [sys.executable, "-m", "artwatch", "artist", "add", "Ana", "--email", "a@example.org"],
        env=environment(data_dir),
        preexec_fn=lambda: os.umask(umask),
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert [artist["name"] for artist in artists(data_dir)] == ["Ana"]
    paths = [data_dir, *data_dir.rglob("*")]
    assert any(path.suffix == ".db" for path in paths)
    for path in paths:
        expected = 0o700 if path.is_dir() else 0o600
        assert (path, oct(path.stat().st_mode & 0o777)) == (path, oct(expected))


@pytest.fixture
def open_data_dir() -> Iterator[Path]:
    """A data dir in /tmp that every user could reach, were it not for ArtWatch's modes."""
    folder = Path(tempfile.mkdtemp(prefix="artwatch-open-"))
    yield folder
    kill_server(folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_only_the_owner_can_connect_to_the_embedded_server(open_data_dir):
    data_dir = open_data_dir
    server = EmbeddedMongo(data_dir)
    uri = server.start()
    try:
        assert uri.startswith("mongodb://%2F")  # a unix socket, no TCP port to reach
        assert psutil.Process(server_pid(data_dir)).net_connections(kind="inet") == []
        socket_file = Path(json.loads((data_dir / "mongo" / "server.json").read_text())["socket"])
        assert oct(socket_file.stat().st_mode & 0o777) == oct(0o600)
        subprocess.run([sys.executable, "-c", PING, uri], timeout=60, check=True)
        if os.getuid() != 0 or not Path(SYSTEM_PYTHON).exists():
            return  # trying as another user needs root, and a Python that user may run
        for folder in (data_dir, data_dir / "mongo"):
            folder.chmod(0o755)  # even then, the socket's own mode keeps others out
        other = subprocess.run(
            [SYSTEM_PYTHON, "-c", CONNECT, str(socket_file)],
            user=65534,
            group=65534,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode != 0 and "Permission denied" in other.stderr, other.stderr
    finally:
        server.stop()


def test_a_deep_data_dir_gets_its_socket_in_a_private_temporary_directory(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedMongo(deep)
    uri = server.start()
    try:
        assert answers_ping(uri)
        folder = Path(json.loads((deep / "mongo" / "server.json").read_text())["socket"]).parent
        assert folder.stat().st_uid == os.getuid()
        assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    finally:
        server.stop()


ADD_ANA = (
    "import sys; from pipelines.store.sync import Store\n"
    "with Store(sys.argv[1]) as store: store.add_artist('Ana', 'ana@example.org')"
)


def test_an_older_releases_tcp_server_is_replaced_and_its_data_kept(data_dir):
    """Upgrading: the TCP server an older release left running is stopped, never reused."""
    from artwatch.embedded import free_port

    home = data_dir / "mongo"
    (home / "data").mkdir(parents=True)
    port = free_port()
    old = subprocess.Popen(
        [sys.executable, "-m", "artwatch.nxserver", "--data-dir", str(home / "data"),
         "--host", "127.0.0.1", "--port", str(port), "--pid-file", str(home / "old.pid"),
         "--log-file", str(home / "old.log")],
        start_new_session=True,
    )  # fmt: skip
    try:
        tcp = f"mongodb://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while not answers_ping(tcp):
            assert old.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        subprocess.run([sys.executable, "-c", ADD_ANA, tcp], timeout=60, check=True)
        (home / "server.json").write_text(json.dumps({"port": port, "pid": old.pid}))

        assert [artist["name"] for artist in artists(data_dir)] == ["Ana"]
        assert old.wait(30) is not None  # stopped, not left listening on TCP
        assert not answers_ping(tcp)
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
