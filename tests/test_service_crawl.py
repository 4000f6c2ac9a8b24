"""``artwatch crawl`` (the scheduler's own crawl runner, from the command line) and the
Sources table of ``artwatch status``, with real crawl processes and the test database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from bson import ObjectId

from artwatch.crawls import HOST, mark_abandoned
from artwatch.embedded import EmbeddedMongo
from pipelines.store.sync import Store

ROOT = Path(__file__).resolve().parent.parent


def crawl_env(tmp_path: Path, mongo_uri: str, db_name: str) -> dict[str, str]:
    config = {"sources": [{"name": "quick", "spider": "mastodon",
                           "schedule": {"interval_minutes": 60}}]}  # fmt: skip
    (tmp_path / "sources.yaml").write_text(json.dumps(config))
    return dict(
        os.environ,
        MONGODB_URI=mongo_uri,
        ARTWATCH_DB_NAME=db_name,
        ARTWATCH_DATA_DIR=str(tmp_path / "data"),
        ARTWATCH_SOURCES=str(tmp_path / "sources.yaml"),
        ARTWATCH_ALLOW_PRIVATE_HOSTS="127.0.0.1",
    )


def test_crawl_command_records_a_crash_and_status_shows_it(
    tmp_path: Path, mongo_uri: str, db_name: str, store: Store
) -> None:
    env = crawl_env(tmp_path, mongo_uri, db_name)
    command = [sys.executable, "-m", "artwatch"]
    crawl = subprocess.run(
        [*command, "crawl", "mastodon", "-a", "base_url=nowhere", "--source", "quick"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert crawl.returncode == 1, crawl.stderr
    assert "failed (exit code 1)" in crawl.stdout

    run = store.db.runs.find_one({"source": "quick"})
    assert (run["status"], run["exit_code"]) == ("failed", 1)
    assert Path(run["log_path"]).parent == tmp_path / "data" / "logs"
    assert "base_url='nowhere'" in Path(run["log_path"]).read_text()

    status = subprocess.run(
        [*command, "status", "--json"], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    (source,) = json.loads(status.stdout)["sources"]
    assert source["source"] == "quick" and source["next_run"] is None
    assert source["last_run"]["status"] == "failed"
    assert source["last_run"]["exit_code"] == 1


def test_crawl_command_rejects_bad_arguments(tmp_path: Path, mongo_uri: str) -> None:
    env = dict(os.environ, MONGODB_URI=mongo_uri, ARTWATCH_DATA_DIR=str(tmp_path))
    for args, message in (
        (["crawl", "myspace"], "unknown spider 'myspace'"),
        (["crawl", "mastodon", "-a", "tags"], "-a 'tags': expected key=value"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "artwatch", *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2
        assert message in result.stderr


def test_sigterm_to_crawl_command_ends_and_records_the_crawl(
    tmp_path: Path, mongo_uri: str, db_name: str, store: Store
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base_url = f"base_url=http://127.0.0.1:{silent.getsockname()[1]}"
        args = ["-a", base_url, "-a", "tags=aiart"]
        command = subprocess.Popen(
            [sys.executable, "-m", "artwatch", "crawl", "mastodon", *args],
            env=crawl_env(tmp_path, mongo_uri, db_name), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while store.db.runs.find_one({"pid": {"$exists": True}}) is None:
                assert command.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            crawl_pid = store.db.runs.find_one()["pid"]  # written by the crawl itself
            command.send_signal(signal.SIGTERM)
            assert command.wait(60) != 0
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
    run = store.db.runs.find_one()
    assert run["status"] == "stopped"
    assert not psutil.pid_exists(crawl_pid) or psutil.Process(crawl_pid).status() == "zombie"


def test_runs_left_by_a_dead_runner_are_marked_abandoned(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crawling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    cases = {  # name: (runner host, runner pid, crawl pid)
        "dead": (HOST, dead.pid, None),
        "runner_alive": (HOST, os.getpid(), None),
        "crawl_alive": (HOST, dead.pid, crawling.pid),
        "other_host": ("elsewhere", dead.pid, None),
    }
    try:
        ids = {}
        for name, (host, runner_pid, crawl_pid) in cases.items():
            ids[name] = store.start_run(name, "mastodon", {})
            fields = {"runner": {"host": host, "pid": runner_pid}, "pid": crawl_pid}
            store.db.runs.update_one({"_id": ObjectId(ids[name])}, {"$set": fields})
        assert mark_abandoned(store) == [ids["dead"]]
    finally:
        crawling.kill()
        crawling.wait()
    statuses = {
        name: store.db.runs.find_one({"_id": ObjectId(i)})["status"] for name, i in ids.items()
    }
    assert statuses == {
        "dead": "abandoned",
        "runner_alive": "running",
        "crawl_alive": "running",
        "other_host": "running",
    }


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A platform that accepts connections and never answers: a crawl that runs on and on."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield f"base_url=http://127.0.0.1:{silent.getsockname()[1]}"


def start_crawl(env: dict[str, str], cwd: Path, base_url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "artwatch", "crawl", "mastodon", "-a", base_url, "-a", "tags=aiart"],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_crawl_pid(store: Store, command: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while (run := store.db.runs.find_one({"pid": {"$exists": True}})) is None:
        assert command.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    return run["pid"]


def wait_gone(pid: int, seconds: float = 60) -> bool:
    """Poll (generous deadline) until ``pid`` has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie":
            return True
        time.sleep(0.2)
    return False


def test_a_sigkilled_runner_takes_its_crawl_along_and_the_run_is_marked_at_next_start(
    tmp_path: Path, mongo_uri: str, db_name: str, store: Store
) -> None:
    env = crawl_env(tmp_path, mongo_uri, db_name)
    with silent_server() as base_url:
        command = start_crawl(env, tmp_path, base_url)
        try:
            crawl_pid = wait_for_crawl_pid(store, command)
            command.kill()  # SIGKILL: no handler, no cleanup in the runner
            command.wait(60)
            assert wait_gone(crawl_pid), "the crawl outlived its runner"
        finally:
            if command.poll() is None:
                command.kill()
            with contextlib.suppress(psutil.Error):
                psutil.Process(crawl_pid).kill()
    assert store.db.runs.find_one()["status"] == "running"  # nobody could say otherwise yet
    status = subprocess.run(
        [sys.executable, "-m", "artwatch", "status"], env=env, cwd=tmp_path, capture_output=True
    )
    assert status.returncode == 0, status.stderr
    assert store.db.runs.find_one()["status"] == "abandoned"


def test_crawl_with_the_database_gone_is_one_line_exit_2_and_marked_at_next_start(
    tmp_path: Path, db_name: str
) -> None:
    database = EmbeddedMongo(tmp_path / "db")
    env = crawl_env(tmp_path, database.start(), db_name)
    try:
        with silent_server() as base_url, Store(database.uri, db_name) as store:
            command = start_crawl(env, tmp_path, base_url)
            try:
                crawl_pid = wait_for_crawl_pid(store, command)
                run_id = store.db.runs.find_one()["_id"]
                database.stop()  # the database goes away mid-crawl
                _, stderr = command.communicate(timeout=120)
            finally:
                if command.poll() is None:
                    command.kill()
        assert command.returncode == 2
        assert "Traceback" not in stderr
        [line] = [line for line in stderr.splitlines() if line.startswith("artwatch: error:")]
        assert "database stopped answering" in line and str(run_id) in line
        assert wait_gone(crawl_pid), "the crawl outlived the runner that ended it"

        env["MONGODB_URI"] = database.start()  # back, on the same files
        status = subprocess.run(
            [sys.executable, "-m", "artwatch", "status"], env=env, cwd=tmp_path, capture_output=True
        )
        assert status.returncode == 0, status.stderr
        with Store(database.uri, db_name) as store:
            assert store.db.runs.find_one({"_id": run_id})["status"] == "abandoned"
    finally:
        database.stop()
