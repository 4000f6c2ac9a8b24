"""The posts stage: stored cursors reach the spider before it starts, a cursor moves only once
its walk is stored, no database at all with ARTWATCH_STORE=none, and MongoDB unreachable at
start or in the middle of a crawl."""

from __future__ import annotations

import threading
import time

from artwatch.embedded import EmbeddedMongo, free_port
from crawler.spiders.mastodon import MastodonSpider
from pipelines.store.sync import Store
from tests.crawlcase import (
    TAG,
    CrawlReplayServer,
    MastodonCase,
    crawl_settings,
    jpeg,
    portfolio_image,
)
from tests.replay import run_spider


def five_posts(tmp_path, count: int = 5):
    case = MastodonCase()
    for number in range(count):
        image = portfolio_image(800 + number).resize((320, 240))
        case.add_status([case.add_file(f"p{number}.jpg", jpeg(image))])
    return case.write(tmp_path / "case")


def walk_key(server) -> str:
    return f"mastodon:{server.base.removeprefix('http://')}:{TAG}"


def test_stored_cursor_reaches_the_spider_before_its_first_request(store, tmp_path):
    settings = crawl_settings(store.uri, store.db.name)
    with CrawlReplayServer(five_posts(tmp_path)) as server:
        store.save_cursor("mastodon", walk_key(server), "1002")
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    host = server.base.removeprefix("http://")
    assert sorted(p["_id"] for p in store.db.posts.find()) == [
        f"mastodon:{host}:1003",
        f"mastodon:{host}:1004",
    ]
    assert result.stats["artwatch/mastodon/posts_older_than_cutoff"] == 3
    assert store.cursors("mastodon")[walk_key(server)] == "1004"
    assert result.cursors == {}, "a CursorItem must never reach the exporters"


def test_store_none_opens_no_database_and_passes_posts_through(tmp_path):
    nowhere = f"mongodb://127.0.0.1:{free_port()}/"
    settings = crawl_settings(nowhere, "unused", ARTWATCH_STORE="none")
    with CrawlReplayServer(five_posts(tmp_path)) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["finish_reason"] == "finished"
    assert sorted(item["post_id"] for item in result.items) == [str(n) for n in range(1000, 1005)]
    assert all(item["image_urls"] for item in result.items)
    assert result.stats["artwatch/cursors/saved"] == 1 and result.cursors == {}
    media = [r for r in server.requests if r.path.startswith("/media/")]
    assert media == [], "with no store the images are not downloaded"


def test_unreachable_mongodb_at_start_closes_the_spider_before_any_request(tmp_path):
    nowhere = f"mongodb://127.0.0.1:{free_port()}/"
    settings = crawl_settings(nowhere, "unused")
    with CrawlReplayServer(five_posts(tmp_path)) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["finish_reason"] == "store_unavailable"
    assert server.requests == []
    [line] = result.log_lines("the crawl does not start")
    assert "MONGODB_URI" in line and nowhere.rstrip("/") in line


def test_mongodb_lost_mid_crawl_stops_the_crawl_and_holds_the_cursor(tmp_path):
    server_db = EmbeddedMongo(tmp_path / "db")
    uri = server_db.start()
    try:
        settings = crawl_settings(
            uri, "crawl", CONCURRENT_REQUESTS_PER_DOMAIN=2, ARTWATCH_MONGODB_TIMEOUT=2
        )
        with CrawlReplayServer(five_posts(tmp_path, 12), delay=0.3) as replay:
            watcher = threading.Thread(target=_stop_after_posts, args=(server_db, uri, 3))
            watcher.start()
            result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=replay.base)
            watcher.join()
        assert result.stats["finish_reason"] == "store_unavailable"
        assert result.log_lines("MONGODB_URI")
        uri = server_db.start()
        with Store(uri, "crawl") as store:
            assert store.db.cursors.count_documents({}) == 0
            assert 3 <= store.db.posts.count_documents({}) < 12
    finally:
        server_db.stop()


def _stop_after_posts(server: EmbeddedMongo, uri: str, posts: int) -> None:
    with Store(uri, "crawl") as store:
        deadline = time.monotonic() + 60
        while store.db.posts.count_documents({}) < posts and time.monotonic() < deadline:
            time.sleep(0.05)
    server.stop()
