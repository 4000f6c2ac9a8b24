"""Stage 1 of the item pipeline: normalise posts, skip finished ones, keep the crawl cursor.

A ``PostItem`` becomes a ``CrawledPost``; a post the store stage already finished (its document
has ``processed_at``) is dropped, so a killed crawl redoes exactly its half-done posts. Stored
cursors go to the spider through the ``cursors_requested`` signal and a walk's ``CursorItem``
is saved only once all its posts are stored (``pipelines.stages.items`` explains both). With
``ARTWATCH_STORE = "none"`` no database is opened: cursors live in memory for the run and
posts pass through untouched.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from pymongo.errors import ConnectionFailure
from scrapy import signals
from scrapy.exceptions import CloseSpider, DropItem, NotConfigured

from pipelines.errors import StoreUnavailable
from pipelines.stages.items import CrawledPost, CursorItem, cursors_requested
from pipelines.store.aio import AsyncStore
from pipelines.store.writes import legacy_post_key, post_key

logger = logging.getLogger(__name__)

# Fields of a PostItem that are stored on the post document as they come.
POST_FIELDS = (
    "platform",
    "post_id",
    "url",
    "author_id",
    "author_name",
    "text",
    "tags",
    "ai_labeled",
    "ai_evidence",
    "query",
    "instance",
)


@dataclass
class _Walk:
    in_flight: int = 0
    failed: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)


def is_store_enabled(settings: Any) -> bool:
    return settings.get("ARTWATCH_STORE", "mongodb") != "none"


def key_host(spider: Any, instance: str | None) -> str:
    """The host in post keys: the instance crawled where ids are per instance (a spider with
    ``ids_per_instance``: Mastodon, feeds), else the platform's one canonical host (that of
    its ``default_base_url``), so a crawl through another API host or a replay server of a
    single-host platform finds the same posts."""
    default = getattr(spider, "default_base_url", None)
    if getattr(spider, "ids_per_instance", False) or not default:
        return instance or ""
    return urlsplit(default).netloc


def normalise(item: Any, host: str = "") -> CrawledPost:
    """A PostItem as a CrawledPost keyed under ``host``; DropItem naming the field when the
    item is unusable."""
    adapter = ItemAdapter(item)
    for name in ("platform", "post_id"):
        if not adapter.get(name):
            raise DropItem(f"invalid post: no {name}")
    urls = [u for u in adapter.get("image_urls") or () if isinstance(u, str)]
    if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
        raise DropItem(f"invalid post: image_urls {adapter.get('image_urls')!r}")
    post = {name: adapter.get(name) for name in POST_FIELDS}
    post["post_id"] = str(post["post_id"])
    post["_id"] = post_key(post["platform"], host, post["post_id"])
    post["created_at"] = _datetime(adapter.get("created_at"))
    post["ai_labeled"] = bool(post["ai_labeled"])
    extra = dict(adapter.get("extra") or {})
    headers = extra.pop("image_headers", None) or {}
    post["extra"] = extra
    return CrawledPost(
        post=post,
        cursor_key=adapter.get("cursor_key"),
        image_urls=list(dict.fromkeys(urls)),
        image_headers=dict(headers),
        screenshot_png=adapter.get("screenshot"),
    )


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StoreStage:
    """Base of the stages after this one: off with ARTWATCH_STORE=none, one shared AsyncStore."""

    def __init__(self, crawler: Any):
        if not is_store_enabled(crawler.settings):
            raise NotConfigured("ARTWATCH_STORE is none")
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = AsyncStore.for_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Any:
        return cls(crawler)


class PostsStage:
    """Normalise, skip processed posts, and save each walk's cursor once it is all stored."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        enabled = is_store_enabled(crawler.settings)
        self.store = AsyncStore.for_crawler(crawler) if enabled else None
        self.walks: dict[str, _Walk] = defaultdict(_Walk)
        self.stored: dict[str, str] = {}  # loaded at open, handed to the spider on request
        self.cursors: dict[str, str] = {}  # saved this run (all of them without a database)
        for signal in (signals.item_scraped, signals.item_dropped):
            crawler.signals.connect(self._settled, signal=signal)
        crawler.signals.connect(self._failed, signal=signals.item_error)
        crawler.signals.connect(self._stored_cursors, signal=cursors_requested)

    @classmethod
    def from_crawler(cls, crawler: Any) -> PostsStage:
        return cls(crawler)

    async def open_spider(self) -> None:
        if self.store is None:
            return
        try:
            await self.store.open()
            self.stored = await self.store.cursors(self.crawler.spider.name)
        except (StoreUnavailable, ConnectionFailure) as error:
            logger.error("%s; the crawl does not start", error)
            raise CloseSpider("store_unavailable") from error

    def _stored_cursors(self, spider: Any) -> dict[str, str]:
        return dict(self.stored)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, CursorItem):
            return await self._cursor(item)
        key = ItemAdapter(item).get("cursor_key")
        if key:
            self.walks[key].in_flight += 1
            self.walks[key].idle.clear()
        if self.store is None:
            return item
        spider = self.crawler.spider
        crawled = normalise(item, key_host(spider, ItemAdapter(item).get("instance")))
        self.crawler.stats.inc_value("artwatch/posts/seen")
        try:
            done = await self.store.is_processed(crawled.key) or await self._processed_before(
                crawled, getattr(spider, "ids_per_instance", False)
            )
        except ConnectionFailure as error:
            raise stop_for_store(self.crawler, self.store, error) from error
        if done:
            self.crawler.stats.inc_value("artwatch/posts/already_processed")
            raise DropItem(f"already processed: {crawled.key}", log_level="DEBUG")
        return crawled

    async def _processed_before(self, crawled: CrawledPost, per_instance: bool) -> bool:
        """Done under the ``platform:post_id`` key of an older release (on this instance)."""
        post = crawled.post
        legacy = legacy_post_key(post["platform"], post["post_id"])
        return await self.store.processed_before(legacy, post["instance"] if per_instance else None)

    async def _cursor(self, item: Any) -> None:
        key, value = item["key"], str(item["value"])
        walk = self.walks[key]
        if walk.in_flight:
            await walk.idle.wait()
        if walk.failed:
            self.crawler.stats.inc_value("artwatch/cursors/held")
            logger.warning("cursor %s not moved: a post of that walk was not stored", key)
        else:
            if self.store is not None:
                try:
                    await self.store.save_cursor(self.crawler.spider.name, key, value)
                except ConnectionFailure as error:
                    raise stop_for_store(self.crawler, self.store, error) from error
            self.cursors[key] = value
            self.crawler.stats.inc_value("artwatch/cursors/saved")
        raise DropItem(f"cursor {key} = {value}", log_level="DEBUG")

    def _settled(self, item: Any, exception: BaseException | None = None, **_: Any) -> None:
        self._leave(item, failed=isinstance(exception, NotStored))

    def _failed(self, item: Any, **_: Any) -> None:
        self._leave(item, failed=True)

    def _leave(self, item: Any, failed: bool) -> None:
        if isinstance(item, CursorItem):
            return
        key = ItemAdapter(item).get("cursor_key") if ItemAdapter.is_item(item) else None
        walk = self.walks.get(key) if key else None
        if walk is None or walk.in_flight == 0:
            return
        walk.failed = walk.failed or failed
        walk.in_flight -= 1
        if walk.in_flight == 0:
            walk.idle.set()


_STOPPING: weakref.WeakSet = weakref.WeakSet()


class NotStored(DropItem):
    """A post given up because MongoDB went away: its walk's cursor must not move."""


def stop_for_store(crawler: Any, store: AsyncStore, error: BaseException) -> NotStored:
    """Close the spider (reason ``store_unavailable``) once; return the drop to raise."""
    failure = store.unavailable(error)
    if crawler not in _STOPPING and crawler.engine.spider is not None:
        _STOPPING.add(crawler)
        logger.error("%s; stopping the crawl", failure)
        task = asyncio.ensure_future(crawler.engine.close_spider_async(reason="store_unavailable"))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)
    crawler.stats.inc_value("artwatch/posts/not_stored")
    return NotStored(f"not stored: {failure}", log_level="WARNING")


_CLOSING: set[asyncio.Future] = set()  # strong references until the close has run
