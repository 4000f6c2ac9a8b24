"""The store stage and the run record: a browser screenshot kept as evidence with the hit, the
scheduler's run document filled in, Scrapy's stats stored under MongoDB-safe keys."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from PIL import Image

from artwatch.portfolio import enroll
from crawler.items import PostItem
from pipelines.stages.runs import mongo_safe
from tests.crawlcase import (
    EDITS,
    CrawlReplayServer,
    MastodonCase,
    crawl_settings,
    jpeg,
    png,
    portfolio_image,
)
from tests.replay import run_spider


class ScreenshotSpider(scrapy.Spider):
    """Yields one browser-rendered post, the way the xiaohongshu spider does."""

    name = "screens"

    def __init__(self, base: str, screenshot: bytes, **kwargs: Any):
        super().__init__(**kwargs)
        self.base, self.screenshot = base, screenshot

    async def start(self) -> AsyncIterator[PostItem]:
        yield PostItem(
            platform="xiaohongshu",
            post_id="64f0c0ffee",
            url="https://www.xiaohongshu.com/explore/64f0c0ffee",
            author_id="u1",
            author_name="someone",
            created_at="2026-03-01T10:00:00Z",
            text="AI绘画",
            tags=["ai绘画"],
            image_urls=[f"{self.base}/media/copy.jpg"],
            ai_labeled=True,
            ai_evidence=["tag:ai绘画"],
            query="ai绘画",
            instance="www.xiaohongshu.com",
            extra={},
            screenshot=self.screenshot,
        )


def test_screenshot_is_kept_as_a_small_jpeg_with_the_hit_and_the_run_is_recorded(store, tmp_path):
    artist_id = store.add_artist("Ana", "ana@example.org")
    work = portfolio_image(31)
    (tmp_path / "w.png").write_bytes(png(work))
    [artwork_id] = enroll(store, artist_id, [str(tmp_path / "w.png")]).added
    case = MastodonCase()
    case.add_file("copy.jpg", jpeg(EDITS["text"](work)))
    page = Image.new("RGB", (1440, 3000), (240, 240, 240))
    page.paste(work, (100, 300))
    shot = io.BytesIO()
    page.save(shot, "PNG")
    run_id = store.start_run("nightly-xhs", "screens", {"tags": "ai绘画"})

    settings = crawl_settings(store.uri, store.db.name, ARTWATCH_RUN_ID=run_id)
    with CrawlReplayServer(case.write(tmp_path / "case")) as server:
        run_spider(
            ScreenshotSpider, settings=settings, base=server.base, screenshot=shot.getvalue()
        )

    [hit] = store.db.hits.find()
    assert hit["artwork_id"] == artwork_id and hit["platform"] == "xiaohongshu"
    evidence = Image.open(io.BytesIO(hit["screenshot"]))
    assert evidence.format == "JPEG" and max(evidence.size) == 1280
    post = store.db.posts.find_one({"_id": hit["post_id"]})
    assert post["post_id"] == "64f0c0ffee" and post["screenshot"] == hit["screenshot"]
    [run] = store.db.runs.find()
    assert str(run["_id"]) == run_id and run["source"] == "nightly-xhs"
    assert run["status"] == "finished" and run["finish_reason"] == "finished"
    assert run["counts"] == {"posts": 1, "images": 1, "hits": 1, "dropped": 0, "errors": 0}
    assert run["stats"]["item_scraped_count"] == 1
    assert run["stats"]["artwatch:hits:new"] == 1
    assert not [key for key in run["stats"] if "." in key or "/" in key or key.startswith("$")]


def test_mongo_safe_keeps_values_and_makes_keys_safe():
    safe = mongo_safe({"downloader/response_status_count/200": 3, "a.b": {1, 2}, "$x": None})
    assert safe == {"downloader:response_status_count:200": 3, "a_b": "{1, 2}", "x": None}
