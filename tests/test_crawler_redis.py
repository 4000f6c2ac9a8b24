"""Scale-out: with ARTWATCH_REDIS_URL the crawl frontier lives in the real Redis (scrapy-redis).

Redis is a service of the test machine (127.0.0.1:6379); the test uses a database number of
its own and skips, saying why, where no Redis answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from artwatch.settings import PROJECT_ROOT
from tests.replay import FIXTURES, ReplayServer

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    client.flushdb()
    yield client
    client.flushdb()


def zadd_calls(client: redis.Redis) -> int:
    return client.info("commandstats").get("cmdstat_zadd", {}).get("calls", 0)


def test_crawl_queues_requests_in_redis_and_flushes_its_frontier_at_the_end(redis_db, tmp_path):
    out = tmp_path / "out.jsonl"
    environment = {
        **os.environ,
        "ARTWATCH_REDIS_URL": REDIS_URL,
        "ARTWATCH_DATA_DIR": str(tmp_path),
    }
    calls_before = zadd_calls(redis_db)
    with ReplayServer(FIXTURES / "mastodon" / "paging") as server:
        command = [sys.executable, "-m", "scrapy", "crawl", "mastodon", "-a", "tags=aiart"]
        command += ["-a", f"base_url={server.base}", "-s", "ARTWATCH_STORE=none"]
        command += ["-s", "DOWNLOAD_DELAY=0", "-s", "ROBOTSTXT_OBEY=False", "-O", str(out)]
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr[-2000:]
    # Every request went through the shared priority queue (a sorted set) in Redis.
    assert "'scheduler/enqueued/redis': 3" in result.stderr
    assert zadd_calls(redis_db) - calls_before >= 3
    assert [json.loads(line)["platform"] for line in out.read_text().splitlines()] == [
        "mastodon"
    ] * 5
    assert redis_db.keys("mastodon:*") == []  # not persisted: the next run starts afresh
