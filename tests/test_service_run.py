"""``artwatch run`` as a real process: scheduled crawls, timeouts, crashes, SIGTERM, orphans.

Three sources against local servers: ``quick`` (an empty Mastodon tag timeline from the
replay server), ``hang`` (a socket that accepts and never answers, with a short timeout) and
``crash`` (an invalid ``base_url``, so the crawl process exits 1). The service runs on its own
embedded database; the test reads the ``runs`` collection of that server, then sends SIGTERM
while a crawl is still running and checks that every process the service started is gone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import psutil
import pytest
from pymongo import MongoClient

from artwatch.embedded import EmbeddedMongo, socket_uri
from tests.replay import ReplayServer

ROOT = Path(__file__).resolve().parent.parent
INTERVAL_SECONDS = 3
HANG_TIMEOUT_SECONDS = 3


@pytest.fixture
def timeline(tmp_path: Path) -> Iterator[ReplayServer]:
    case = tmp_path / "timeline"
    case.mkdir()
    entry = {"path": "/api/v1/timelines/tag/aiart?limit=40&only_media=true", "body": "[]"}
    entry["headers"] = {"Content-Type": "application/json"}
    (case / "index.json").write_text(json.dumps([entry]))
    with ReplayServer(case) as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def write_sources(path: Path, quick: str, hang: str) -> None:
    interval = {"interval_minutes": INTERVAL_SECONDS / 60}
    sources = [
        {"name": "quick", "spider": "mastodon", "schedule": interval,
         "args": {"base_url": quick, "tags": "aiart", "max_pages": "1"}},
        {"name": "hang", "spider": "mastodon", "schedule": {"interval_minutes": 1 / 30},
         "args": {"base_url": hang, "tags": "aiart"},
         "timeout_minutes": HANG_TIMEOUT_SECONDS / 60},
        {"name": "crash", "spider": "mastodon", "schedule": interval,
         "args": {"base_url": "not-a-url"}},
        {"name": "slow", "spider": "mastodon", "schedule": interval,
         "args": {"base_url": hang, "tags": "aiart"}, "timeout_minutes": 10},
    ]  # fmt: skip
    path.write_text(json.dumps({"sources": sources, "alerts": {"dispatch_interval_seconds": 5}}))


def service_env(data_dir: Path, sources: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update(
        ARTWATCH_DATA_DIR=str(data_dir),
        ARTWATCH_SOURCES=str(sources),
        ARTWATCH_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        ARTWATCH_SHUTDOWN_GRACE_SECONDS="1",
        ARTWATCH_DB_NAME="service_test",
    )
    return env


def embedded_uri(data_dir: Path) -> tuple[str, int]:
    state = json.loads((data_dir / "mongo" / "server.json").read_text())
    return socket_uri(Path(state["socket"])), state["pid"]


def runs_of(db, source: str) -> list[dict]:
    return list(db.runs.find({"source": source}).sort("started_at", 1))


def descendants(pid: int, seen: dict[int, float]) -> None:
    try:
        for child in psutil.Process(pid).children(recursive=True):
            seen.setdefault(child.pid, child.create_time())
    except psutil.NoSuchProcess:
        pass


def still_running(pid: int, created: float) -> bool:
    try:
        process = psutil.Process(pid)
        return process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition, seconds: float, what: str, service: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert service.poll() is None, f"artwatch run exited early ({service.returncode})"
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting for {what}")


def test_run_schedules_crawls_records_failures_and_stops_cleanly(
    tmp_path: Path, timeline: ReplayServer, silent_port: int
) -> None:
    data_dir, sources = tmp_path / "data", tmp_path / "sources.yaml"
    write_sources(sources, timeline.base, f"http://127.0.0.1:{silent_port}")
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "artwatch", "run"],
            cwd=tmp_path,
            env=service_env(data_dir, sources),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seen: dict[int, float] = {}
    try:
        wait_for(lambda: (data_dir / "mongo" / "server.json").exists(), 30, "the db", service)
        uri, server_pid = embedded_uri(data_dir)
        seen[server_pid] = psutil.Process(server_pid).create_time()
        client = MongoClient(uri, tz_aware=True)
        db = client["service_test"]

        def enough_runs() -> bool:
            descendants(service.pid, seen)
            # exit_code is the runner's, written once the crawl process has ended.
            quick = [r for r in runs_of(db, "quick") if "exit_code" in r]
            crash = [r for r in runs_of(db, "crash") if "exit_code" in r]
            hang = [r for r in runs_of(db, "hang") if r["status"] == "timeout"]
            slow = [r for r in runs_of(db, "slow") if "exit_code" not in r]
            return len(quick) >= 2 and len(crash) >= 2 and hang and slow

        wait_for(enough_runs, 120, "two quick runs, two crashes, a timeout", service)
        descendants(service.pid, seen)
        service.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0, log_path.read_text()
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    # Nothing left behind: crawls, their helpers, the embedded server.
    orphans = [pid for pid, created in seen.items() if still_running(pid, created)]
    assert not orphans, [psutil.Process(pid).cmdline() for pid in orphans]
    assert not (data_dir / "mongo" / "server.json").exists()
    client.close()

    # The runs as recorded, read from the same data dir by a server of our own.
    reopened = EmbeddedMongo(data_dir)
    try:
        check_runs(MongoClient(reopened.start(), tz_aware=True)["service_test"], log_path)
    finally:
        reopened.stop()


def check_runs(db, log_path: Path) -> None:
    log = log_path.read_text()
    quick, hang, crash, slow = (runs_of(db, name) for name in ("quick", "hang", "crash", "slow"))
    # On schedule, never two at once for one source.
    for runs in (quick, hang, crash, slow):
        for earlier, later in pairwise(runs):
            assert later["started_at"] >= earlier["finished_at"], (earlier, later)
    starts = [run["started_at"] for run in quick]
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert all(gap >= timedelta(seconds=INTERVAL_SECONDS * 0.8) for gap in gaps), gaps
    assert all(run["status"] == "finished" and run["exit_code"] == 0 for run in quick[:2])
    assert quick[0]["finish_reason"] == "finished"
    # The crash is recorded with its exit code, and the scheduler went on after it.
    failed = [run for run in crash if run["status"] == "failed"]
    assert len(failed) >= 2 and all(run["exit_code"] == 1 for run in failed)
    assert crash[:-1] == failed[: len(crash) - 1]  # only one in flight at SIGTERM may differ
    assert "base_url='not-a-url'" in Path(failed[0]["log_path"]).read_text()
    # The hanging crawl was killed at its timeout (each time); the slow one, still running at
    # SIGTERM and past the grace period, was stopped.
    assert hang[0]["status"] == "timeout" and hang[0]["exit_code"] is not None
    assert all(run["status"] == "timeout" for run in hang[:-1])
    assert hang[-1]["status"] in ("timeout", "stopped")
    assert [run["status"] for run in slow] == ["stopped"]
    assert not [run for run in db.runs.find() if run["status"] == "running"]
    # One log line per crawl start and finish.
    assert log.count("crawl started: source=quick") == len(quick)
    ends = re.findall(r"crawl (finished|failed|timeout|stopped): source=quick ", log)
    assert len(ends) == len(quick) and ends[0] == "finished"
    assert "crawl timeout: source=hang" in log
    assert "crawl failed: source=crash" in log
