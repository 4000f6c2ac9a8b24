"""`scrapy crawl NAME -a ... -s ARTWATCH_STORE=none -O out.jsonl` for every spider, as a user
runs it: a real process with the project's settings, no database at all, against the replay
server, giving the items of the case's expected.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from artwatch.settings import PROJECT_ROOT
from tests.replay import FIXTURES, ReplayServer

XHS_STATE = FIXTURES / "xiaohongshu" / "search" / "storage_state.json"

# spider -> (replay case, spider arguments, environment); the arguments of the spider's own tests
CASES = {
    "mastodon": ("paging", {"tags": "aiart"}, {}),
    "bluesky": (
        "search",
        {"tags": "aiart"},
        {"BLUESKY_HANDLE": "artwatch-test.bsky.social", "BLUESKY_APP_PASSWORD": "abcd-efgh"},
    ),
    "reddit": (
        "subreddits",
        {"tags": "aiArt,ferguson,pics,art,blank"},
        {"REDDIT_CLIENT_ID": "test-client-id", "REDDIT_CLIENT_SECRET": "test-client-secret"},
    ),
    "pixiv": ("search", {"tags": "AIイラスト,AI生成,blocked,truncated", "since": "2017-01-01"}, {}),
    "civitai": ("paging", {"tags": "aiart"}, {}),
    "deviantart": ("rss_paging", {"tags": "aiart"}, {}),
    "rss": ("mastodon_tag", {"tags": "#AIart"}, {}),
    "weibo": ("search", {"tags": "AI绘画"}, {"WEIBO_COOKIE": "SUB=invented-test-cookie"}),
    "lofter": ("tag", {"tags": "AI绘画"}, {"LOFTER_COOKIE": "LOFTER_SESS=invented-test-session"}),
    "xiaohongshu": (
        "search",
        {"tags": "AI绘画", "max_pages": "2"},
        {"XHS_STORAGE_STATE": str(XHS_STATE)},
    ),
}


def test_every_spider_has_a_command_line_case():
    modules = (PROJECT_ROOT / "crawler" / "spiders").glob("*.py")
    assert sorted(CASES) == sorted(p.stem for p in modules if p.stem not in ("__init__", "base"))


@pytest.mark.parametrize("spider", sorted(CASES))
def test_scrapy_crawl_exports_items_without_a_database(spider, tmp_path):
    case, args, credentials = CASES[spider]
    out = tmp_path / "out.jsonl"
    environment = {
        **{k: v for k, v in os.environ.items() if k != "MONGODB_URI"},
        "ARTWATCH_DATA_DIR": str(tmp_path / "var"),
        **credentials,
    }
    with ReplayServer(FIXTURES / spider / case) as server:
        arguments = [f"{key}={value}" for key, value in {**args, "base_url": server.base}.items()]
        command = [sys.executable, "-m", "scrapy", "crawl", spider]
        command += [part for argument in arguments for part in ("-a", argument)]
        command += ["-s", "ARTWATCH_STORE=none", "-s", "DOWNLOAD_DELAY=0"]
        command += ["-s", "AUTOTHROTTLE_ENABLED=False", "-O", str(out)]
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=180
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = json.loads((FIXTURES / spider / case / "expected.json").read_text())["items"]
    assert sorted(item["post_id"] for item in exported) == sorted(
        str(item["post_id"]) for item in expected
    )
    assert all(item["image_urls"] for item in exported)
    assert not (tmp_path / "var" / "mongo").exists()  # no database was started
    assert [r for r in server.unexpected if not r.endswith("/robots.txt")] == []
