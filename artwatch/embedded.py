"""The embedded database: an ``nx-27017`` server (MongoDB wire protocol over SQLite).

When ``MONGODB_URI`` is unset ArtWatch starts one as a child process listening on a unix
socket that only the owner can connect to (nx-27017 has no authentication), with its files
under ``ARTWATCH_DATA_DIR/mongo`` (0700) and its own pid file, and records the socket in
``server.json`` there. A second ArtWatch process on the same data dir finds
that file, checks the server answers, and reuses it instead of starting another; only the
process that started the server stops it. A server left behind by a killed ArtWatch is
reused the same way, so its data is found again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from artwatch.private import private_dir, private_opener, write_private
from pipelines.errors import StoreUnavailable

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
# sun_path holds 108 bytes on Linux; a socket path longer than this moves to a private
# directory of ours under the temporary directory.
MAX_SOCKET_PATH = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def socket_path(home: Path) -> Path:
    """Where the server listens: in ``home``, or (a deep data dir) in /tmp/artwatch-<uid>."""
    path = home / "nx-27017.sock"
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    short = Path(tempfile.gettempdir()) / f"artwatch-{os.getuid()}"
    private_dir(short)
    if short.is_symlink() or short.stat().st_uid != os.getuid():
        raise StoreUnavailable(f"{short} belongs to someone else; set ARTWATCH_DATA_DIR shorter")
    return short / (hashlib.sha256(os.fsencode(home)).hexdigest()[:16] + ".sock")


def socket_uri(path: Path) -> str:
    """The pymongo URI of a unix socket (its path percent-encoded as the host)."""
    return f"mongodb://{quote(str(path), safe='')}/"


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
    """True while a process with this pid exists (ours or not) and is not a zombie (dead, not
    yet reaped: an orphan's zombie lingers as long as init leaves it, in a container forever)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: existing is all we know
    return stat.rpartition(")")[2].split()[0] != "Z"


class EmbeddedMongo:
    """One nx-27017 server per data dir; ``start()`` returns its URI."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self.home = self.data_dir / "mongo"
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
        private_dir(self.data_dir)
        private_dir(self.home)
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
        socket_path(self.home).unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two ArtWatch processes starting at once must agree on one server.
        with open(self.home / ".lock", "w", opener=private_opener) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _running_uri(self) -> str | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if "socket" not in state:  # an older release's TCP server, open to every local user
            _retire(state["pid"])
            return None
        uri = socket_uri(Path(state["socket"]))
        if process_alive(state["pid"]) and answers_ping(uri):
            return uri
        return None

    def _spawn(self) -> str:
        self._clear_stale_pid_file()
        path = socket_path(self.home)
        command = [
            sys.executable, "-m", "artwatch.nxserver",
            "--data-dir", str(private_dir(self.home / "data")),
            "--host", str(path),
            "--pid-file", str(self.pid_file),
            "--log-file", str(self.log_file),
        ]  # fmt: skip
        with open(self.log_file, "ab", opener=private_opener) as log:
            # A session of its own: Ctrl-C reaches ArtWatch, which then stops the server.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        uri = socket_uri(path)
        self._wait_until_ready(uri)
        state = {"socket": str(path), "pid": self._process.pid}
        write_private(self.state_file, json.dumps(state).encode())
        return uri

    def _clear_stale_pid_file(self) -> None:
        # nx-27017 refuses to start while its pid file names a process that exists, and a
        # killed server whose parent died too can linger as a zombie nobody reaps.
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        if not process_alive(pid):
            self.pid_file.unlink(missing_ok=True)

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


def _retire(pid: int) -> None:
    """Stop an embedded server of an older release, so one server uses the files at a time."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"artwatch.nxserver" not in command:  # the pid has been reused since
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


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
