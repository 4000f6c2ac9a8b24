"""The embedded database: an ``nx-27017`` server (MongoDB wire protocol over SQLite).

When ``MONGODB_URI`` is unset ArtWatch starts one as a child process on a free 127.0.0.1
port, with its files under ``ARTWATCH_DATA_DIR/mongo`` and its own pid file, and records
the port in ``server.json`` there. A second ArtWatch process on the same data dir finds
that file, checks the server answers, and reuses it instead of starting another; only the
process that started the server stops it. A server left behind by a killed ArtWatch is
reused the same way, so its data is found again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from pipelines.errors import StoreUnavailable

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_ping(uri: str, timeout_ms: int = 500) -> bool:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def process_alive(pid: int) -> bool:
    """True while a process with this pid exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedMongo:
    """One nx-27017 server per data dir; ``start()`` returns its URI."""

    def __init__(self, data_dir: Path):
        self.home = Path(data_dir).resolve() / "mongo"
        self.state_file = self.home / "server.json"
        self.pid_file = self.home / "nx-27017.pid"
        self.log_file = self.home / "nx-27017.log"
        self._process: subprocess.Popen | None = None
        self.uri: str | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the server (and so must stop it)."""
        return self._process is not None

    def start(self) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self.uri = self._running_uri() or self._spawn()
        return self.uri

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        self.state_file.unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two ArtWatch processes starting at once must agree on one server.
        with open(self.home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _running_uri(self) -> str | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        uri = f"mongodb://127.0.0.1:{state['port']}/"
        if process_alive(state["pid"]) and answers_ping(uri):
            return uri
        return None

    def _spawn(self) -> str:
        port = free_port()
        command = [
            sys.executable, "-m", "artwatch.nxserver",
            "--data-dir", str(self.home / "data"),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--pid-file", str(self.pid_file),
            "--log-file", str(self.log_file),
        ]  # fmt: skip
        with open(self.log_file, "ab") as log:
            # A session of its own: Ctrl-C reaches ArtWatch, which then stops the server.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        uri = f"mongodb://127.0.0.1:{port}/"
        self._wait_until_ready(uri)
        self.state_file.write_text(json.dumps({"port": port, "pid": self._process.pid}))
        return uri

    def _wait_until_ready(self, uri: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if answers_ping(uri, timeout_ms=250):
                return
            time.sleep(0.1)
        self.stop()
        raise StoreUnavailable(
            f"the embedded database did not start (log: {self.log_file}); "
            "set MONGODB_URI to use a MongoDB server instead"
        )


@contextlib.contextmanager
def database_uri(mongodb_uri: str | None, data_dir: Path) -> Iterator[str]:
    """Yield the URI to use: MONGODB_URI when set, else the embedded server's."""
    if mongodb_uri:
        yield mongodb_uri
        return
    server = EmbeddedMongo(data_dir)
    uri = server.start()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if server.owned and in_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # SIGTERM must unwind through the finally below, or the server is orphaned.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield uri
    finally:
        server.stop()
