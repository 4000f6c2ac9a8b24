"""Run one crawl as its own ``scrapy crawl`` process: the only way ArtWatch starts a crawl.

The scheduler and ``artwatch crawl`` both call ``CrawlRunner.run``. It creates the ``runs``
document first and passes its id as ``-s ARTWATCH_RUN_ID``, so the crawl's own extension
fills that document with Scrapy's stats and counts; when the process has ended the runner
adds what only the parent knows: the exit code, whether it timed out or was stopped, and the
path of the crawl's log (``<ARTWATCH_DATA_DIR>/logs/<run id>.log``). A fresh process per
crawl because Twisted's reactor cannot be restarted; a process group per crawl so that a
timeout or a shutdown ends the crawl together with anything it started (a browser), and so
that Ctrl-C in a terminal reaches the service, which then stops its crawls in order. A crawl
gets SIGKILL when its runner dies (Linux parent-death signal), and is ended when the database
stops answering; a run nobody could record is marked ``abandoned`` at the next start
(``mark_abandoned``, called by ``artwatch.context.open_store``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from artwatch.embedded import answers_ping, process_alive
from artwatch.health import HealthMonitor
from artwatch.private import private_dir, private_opener
from artwatch.settings import PROJECT_ROOT, Settings
from pipelines.errors import ArtWatchError, StoreUnavailable
from pipelines.store.sync import Store

log = logging.getLogger("artwatch.crawls")
HOST = socket.gethostname()

# After SIGTERM Scrapy closes the spider (so the run's stats are written); a crawl still
# alive this long afterwards is killed.
KILL_AFTER_SECONDS = 5.0
# What a finished crawl's log line shows, in this order, when the run document has them.
SUMMARY_KEYS = ("posts", "images", "hits", "dropped", "errors")
# While a crawl runs the runner pings the database this often; after this many unanswered
# pings in a row (each waits DB_PING_MS) the database is gone: the crawl is ended.
DB_CHECK_SECONDS = 3.0
DB_MISSES = 3
DB_PING_MS = 3000
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


@dataclass(frozen=True)
class Crawl:
    """What to crawl: the source it belongs to, a spider, its ``-a`` arguments, a timeout."""

    source: str
    spider: str
    args: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 1800.0


@dataclass
class CrawlOutcome:
    """How one crawl ended: ``status`` is finished, failed, timeout or stopped."""

    run_id: str
    status: str
    exit_code: int | None
    log_path: Path
    seconds: float
    run: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == "finished"


def parse_args(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` from the command line into a dict; ArtWatchError if malformed."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ArtWatchError(f"-a {pair!r}: expected key=value")
        args[key.strip()] = value
    return args


def crawl_environment(settings: Settings, mongodb_uri: str) -> dict[str, str]:
    """The child's environment: ours, with the database and paths this process uses, so a
    crawl started by the service writes where the service reads even when they came from
    defaults or from a ``.env`` the child would not find."""
    env = dict(os.environ)
    env.update(
        MONGODB_URI=mongodb_uri,
        ARTWATCH_DB_NAME=settings.artwatch_db_name,
        ARTWATCH_DATA_DIR=str(Path(settings.artwatch_data_dir).resolve()),
        ARTWATCH_SOURCES=str(Path(settings.artwatch_sources).resolve()),
        ARTWATCH_LOG_LEVEL=settings.artwatch_log_level,
        ARTWATCH_ALLOW_PRIVATE_HOSTS=",".join(settings.artwatch_allow_private_hosts),
    )
    return env


class CrawlRunner:
    """Starts crawls, keeps track of the running ones, and stops them all on shutdown."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        extra_env: Mapping[str, str] | None = None,
    ):
        self.store = store
        self.health = HealthMonitor(store, settings)
        # Child crawls use this store's server: the embedded one when MONGODB_URI is unset.
        self.env = {**crawl_environment(settings, store.uri), **(extra_env or {})}
        self.log_dir = Path(settings.artwatch_data_dir).resolve() / "logs"
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen] = {}
        self._stopped: set[str] = set()
        self._stopping = False

    @property
    def running(self) -> list[str]:
        """Run ids of the crawls in progress."""
        with self._lock:
            return list(self._running)

    def run(self, crawl: Crawl) -> CrawlOutcome:
        """Run one crawl to its end (or timeout); record and return how it ended."""
        run_id = self.store.start_run(crawl.source, crawl.spider, crawl.args)
        log_path = self.log_dir / f"{run_id}.log"
        self.store.update_run(
            run_id,
            {
                "log_path": str(log_path),
                "timeout_seconds": crawl.timeout_seconds,
                "runner": {"host": HOST, "pid": os.getpid()},
            },
        )
        log.info(
            "crawl started: source=%s spider=%s run=%s args=%s",
            crawl.source, crawl.spider, run_id, _args_text(crawl.args),
        )  # fmt: skip
        started = time.monotonic()
        try:
            exit_code, status = self._execute(crawl, run_id, log_path)
        except KeyboardInterrupt:
            self._record(run_id, "stopped", None, time.monotonic() - started)
            raise
        except StoreUnavailable:
            with contextlib.suppress(PyMongoError):  # back already? then say so now
                self._record(run_id, "failed", None, time.monotonic() - started)
            raise
        seconds = time.monotonic() - started
        try:
            run = self._record(run_id, status, exit_code, seconds)
        except PyMongoError as error:
            raise _gone(run_id, error) from None
        self._check_health(run)
        outcome = CrawlOutcome(run_id, run["status"], exit_code, log_path, seconds, run)
        log.log(
            logging.INFO if outcome.ok else logging.WARNING,
            "crawl %s: source=%s run=%s exit=%s in %.1fs%s (log %s)",
            outcome.status, crawl.source, run_id, exit_code, seconds, _counts_text(run),
            log_path,
        )  # fmt: skip
        return outcome

    def _execute(self, crawl: Crawl, run_id: str, log_path: Path) -> tuple[int | None, str]:
        command = [sys.executable, "-m", "scrapy", "crawl", crawl.spider]
        for key, value in crawl.args.items():
            command += ["-a", f"{key}={value}"]
        command += ["-s", f"ARTWATCH_RUN_ID={run_id}"]
        private_dir(log_path.parent.parent)  # the data dir: logs quote what crawls found
        private_dir(log_path.parent)
        with self._lock:
            if self._stopping:
                return None, "stopped"
            with open(log_path, "ab", opener=private_opener) as log_file:
                process = subprocess.Popen(
                    command,
                    cwd=PROJECT_ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with(os.getpid()),
                )
            self._running[run_id] = process
        try:
            try:
                exit_code = self._wait(process, crawl.timeout_seconds, run_id)
            except subprocess.TimeoutExpired:
                log.warning("crawl timed out after %ss: run=%s", crawl.timeout_seconds, run_id)
                return _end(process), "timeout"
            except (KeyboardInterrupt, StoreUnavailable):  # Ctrl-C, SIGTERM, the database gone
                _end(process)
                raise
        finally:
            with self._lock:
                self._running.pop(run_id, None)
            _kill_group(process.pid, signal.SIGKILL)  # anything the crawl left behind
        if run_id in self._stopped:
            return exit_code, "stopped"
        return exit_code, "finished" if exit_code == 0 else "failed"

    def _wait(self, process: subprocess.Popen, timeout: float, run_id: str) -> int:
        """``process.wait(timeout)`` that raises StoreUnavailable once the database is gone:
        the crawl could not store what it finds, and its run could not be recorded."""
        deadline = time.monotonic() + timeout
        misses = 0
        while True:
            try:
                return process.wait(max(0.0, min(DB_CHECK_SECONDS, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
            misses = 0 if answers_ping(self.store.uri, DB_PING_MS) else misses + 1
            if misses >= DB_MISSES:
                log.error("the database stopped answering: ending crawl run=%s", run_id)
                raise _gone(run_id, None)

    def _record(self, run_id: str, status: str, exit_code: int | None, seconds: float) -> dict:
        fields: dict[str, Any] = {"exit_code": exit_code, "seconds": round(seconds, 3)}
        current = self.store.run(run_id) or {}
        # The crawl's own extension writes a status with its finish reason; the runner's word
        # wins where it knows more: a crash, or a crawl ended before its work was done (one
        # that had finished and was only slow to exit keeps "finished").
        recorded = current.get("status") not in (None, "running")
        done = current.get("finish_reason") == "finished"
        if not recorded or status == "failed" or (status != "finished" and not done):
            fields["status"] = status
        self.store.finish_run(run_id, fields)
        return self.store.run(run_id)

    def _check_health(self, run: dict) -> None:
        """Hold the run against its source's expectations; a crawl we stopped says nothing
        about the platform. A failure here is logged, never the crawl's."""
        if run.get("status") == "stopped":
            return
        try:
            self.health.check_run(run)
        except Exception:
            log.exception("health check of run %s failed", run.get("_id"))

    def stop_all(self, grace_seconds: float, hurry: threading.Event | None = None) -> None:
        """Refuse new crawls, wait up to ``grace_seconds`` (or until ``hurry`` is set) for
        running ones to finish, then end the rest: SIGTERM, and SIGKILL if they linger."""
        with self._lock:
            self._stopping = True
        hurry = hurry or threading.Event()
        deadline = time.monotonic() + grace_seconds
        while self.running and time.monotonic() < deadline and not hurry.wait(0.2):
            pass
        with self._lock:
            processes = list(self._running.items())
            self._stopped.update(self._running)
        for run_id, process in processes:
            log.warning("stopping crawl run=%s after the %ss grace period", run_id, grace_seconds)
            _kill_group(process.pid, signal.SIGTERM)
        if not self.wait_idle(KILL_AFTER_SECONDS):
            for _, process in processes:
                _kill_group(process.pid, signal.SIGKILL)

    def wait_idle(self, seconds: float) -> bool:
        """Wait until no crawl runs; True if that happened within ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.running


def mark_abandoned(store: Store) -> list[str]:
    """Runs a dead runner on this host left ``running`` (a killed service): ``abandoned``.

    A run whose crawl process is still alive is left alone; its extension records the end.
    """
    abandoned = []
    for run in store.running_runs(HOST):
        crawl_pid = run.get("pid")
        if process_alive(run["runner"]["pid"]) or (crawl_pid and process_alive(crawl_pid)):
            continue
        store.finish_run(str(run["_id"]), {"status": "abandoned"})
        abandoned.append(str(run["_id"]))
    return abandoned


def _gone(run_id: str, error: Exception | None) -> StoreUnavailable:
    why = f" ({type(error).__name__})" if error else ""
    return StoreUnavailable(
        f"the database stopped answering during crawl run {run_id}{why}; the crawl was ended "
        "and its run is marked when ArtWatch next starts with the database back"
    )


def _die_with(parent: int):
    """A ``preexec_fn``: the crawl gets SIGKILL when its runner dies, even by SIGKILL (Linux).

    The signal follows the runner's thread that forked, which waits for this crawl to end.
    """

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the runner died before the signal was armed
            os._exit(1)

    return preexec


def _end(process: subprocess.Popen) -> int | None:
    _kill_group(process.pid, signal.SIGTERM)
    try:
        return process.wait(KILL_AFTER_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid, signal.SIGKILL)
        return process.wait()


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _args_text(args: Mapping[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in args.items()) or "-"


def _counts_text(run: Mapping[str, Any]) -> str:
    counts = run.get("counts") or {}
    shown = [f"{key}={counts[key]}" for key in SUMMARY_KEYS if key in counts]
    shown += [f"{key}={value}" for key, value in counts.items() if key not in SUMMARY_KEYS]
    return (": " + " ".join(shown)) if shown else ""
