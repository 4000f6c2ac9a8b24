"""The match stage: the portfolio index follows the artworks collection, and a dismissed hit
keeps the same image from alerting again for that artwork."""

from __future__ import annotations

import asyncio

from scrapy.utils.test import get_crawler

from artwatch.portfolio import enroll
from crawler.spiders.mastodon import MastodonSpider
from pipelines.engine.fingerprint import fingerprint
from pipelines.stages.match import MatchStage
from pipelines.store.aio import AsyncStore
from tests.crawlcase import (
    EDITS,
    TAG,
    CrawlReplayServer,
    MastodonCase,
    crawl_settings,
    jpeg,
    png,
    portfolio_image,
)
from tests.replay import run_spider


def enroll_seeds(store, tmp_path, artist_id: str, seeds) -> list[str]:
    paths = []
    for seed in seeds:
        path = tmp_path / f"art{seed}.png"
        path.write_bytes(png(portfolio_image(seed)))
        paths.append(str(path))
    return enroll(store, artist_id, paths).added


def test_index_is_rebuilt_when_the_portfolio_changes_reading_only_new_artworks(store, tmp_path):
    artist_id = store.add_artist("Ana", "ana@example.org")
    first = enroll_seeds(store, tmp_path, artist_id, [41, 42])
    crawler = get_crawler(MastodonSpider, crawl_settings(store.uri, store.db.name))

    async def scenario():
        pipeline = MatchStage(crawler)
        try:
            await pipeline.open_spider()
            before = pipeline.portfolio
            await pipeline._refresh()
            unchanged = pipeline.portfolio is before
            added = enroll_seeds(store, tmp_path, artist_id, [43])
            store.db.artworks.delete_one({"filename": "art41.png"})  # count stays 2
            await pipeline._refresh()
            return before, unchanged, added, pipeline.portfolio
        finally:
            await pipeline.close_spider()
            await AsyncStore.for_crawler(crawler).close()

    before, unchanged, [added], after = asyncio.run(scenario())
    assert set(before.fingerprints) == set(first) and unchanged
    assert set(after.fingerprints) == {first[1], added}
    assert after.fingerprints[first[1]] is before.fingerprints[first[1]], "kept, not read again"
    copy = jpeg(EDITS["resize"](portfolio_image(43)))
    assert [m.artwork_id for m in after.index.search(fingerprint(copy))] == [added]
    assert after.artists[artist_id]["email"] == "ana@example.org"


def test_a_dismissed_hit_suppresses_the_same_image_in_a_later_post(store, tmp_path):
    artist_id = store.add_artist("Ana", "ana@example.org")
    [artwork_id] = enroll_seeds(store, tmp_path, artist_id, [44])
    copy = jpeg(EDITS["resize"](portfolio_image(44)))
    first, second = MastodonCase(), MastodonCase()
    first.add_status([first.add_file("copy.jpg", copy)])
    second.add_status([second.add_file("copy.jpg", copy)])
    second.add_status([second.add_file("copy-again.jpg", copy)])
    settings = crawl_settings(store.uri, store.db.name)
    with CrawlReplayServer(first.write(tmp_path / "first")) as server:
        run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    [hit] = store.db.hits.find()
    assert store.set_hit_status(str(hit["_id"]), artist_id, "dismissed")

    store.db.cursors.delete_many({})
    same_instance = int(server.base.rsplit(":", 1)[1])  # post keys include the instance
    with CrawlReplayServer(second.write(tmp_path / "second"), port=same_instance) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["artwatch/hits/suppressed"] == 1  # status 1001; 1000 is processed
    assert store.db.hits.count_documents({}) == 1
    assert store.db.hits.find_one({"artwork_id": artwork_id})["status"] == "dismissed"
