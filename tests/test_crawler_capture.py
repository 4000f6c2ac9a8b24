"""A crawl captured with Scrapy's HTTP cache (as README tells a user to) replays: offline from
the cache itself, and as a replay case written by ``tests.capture``."""

from __future__ import annotations

from pathlib import Path

from crawler.spiders.mastodon import MastodonSpider
from tests.capture import convert
from tests.replay import FIXTURES, ReplayServer, run_spider, snapshot

CASE = FIXTURES / "mastodon" / "paging"


def _cache(directory: Path, **extra: object) -> dict[str, object]:
    return {
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_DIR": str(directory),
        "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.DummyPolicy",
        "HTTPCACHE_STORAGE": "scrapy.extensions.httpcache.FilesystemCacheStorage",
        **extra,
    }


def test_a_captured_crawl_replays_offline_and_as_a_case(tmp_path: Path) -> None:
    with ReplayServer(CASE) as server:
        original = run_spider(
            MastodonSpider, _cache(tmp_path / "cache"), base_url=server.base, tags="aiart"
        )
    assert server.unexpected == []
    expected = snapshot(original, server.base)
    assert original.items

    # The server is gone: the cache alone answers the same crawl.
    offline = run_spider(
        MastodonSpider,
        _cache(tmp_path / "cache", HTTPCACHE_IGNORE_MISSING=True, RETRY_ENABLED=False),
        base_url=server.base,
        tags="aiart",
    )
    assert snapshot(offline, server.base) == expected

    index = convert(tmp_path / "cache", tmp_path / "case", server.base)
    assert [entry["path"].split("?")[0] for entry in index] == ["/api/v1/timelines/tag/aiart"] * 3
    with ReplayServer(tmp_path / "case") as replay:
        replayed = run_spider(MastodonSpider, base_url=replay.base, tags="aiart")
    assert replay.unexpected == []
    assert snapshot(replayed, replay.base) == expected
