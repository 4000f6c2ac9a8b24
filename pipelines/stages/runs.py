"""The crawl's ``runs`` document, written by ``RunRecorder`` (a Scrapy extension in ``EXTENSIONS``).

It creates a new document, or fills in the one the scheduler created and passed as
``ARTWATCH_RUN_ID``; at the end it adds the finish reason, Scrapy's stats (keys made safe for
MongoDB) and the counts of posts, images, hits and drops by reason.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError
from scrapy import signals
from scrapy.exceptions import NotConfigured

from pipelines.errors import StoreUnavailable
from pipelines.store.aio import AsyncStore

logger = logging.getLogger(__name__)

DROPS_PREFIX = "artwatch/drops/"
STATUS_BY_REASON = {"finished": "finished", "shutdown": "stopped"}


def mongo_safe(stats: dict[str, Any]) -> dict[str, Any]:
    """Scrapy's stats with keys MongoDB accepts ('.' and '/' are path syntax to it)."""
    safe = {}
    for key, value in stats.items():
        name = key.replace(".", "_").replace("/", ":").lstrip("$")
        if not isinstance(value, int | float | str | bool | datetime) and value is not None:
            value = str(value)
        safe[name] = value
    return safe


def counts(stats: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """(counts, drops by reason) from the crawl's stats."""
    drops = {k[len(DROPS_PREFIX) :]: v for k, v in stats.items() if k.startswith(DROPS_PREFIX)}
    summary = {
        "posts": stats.get("artwatch/posts/stored", 0),
        "images": stats.get("artwatch/images/downloaded", 0),
        "hits": stats.get("artwatch/hits/new", 0),
        "dropped": sum(drops.values()),
        "errors": stats.get("log_count/ERROR", 0),
    }
    return summary, drops


def spider_arguments(spider: Any) -> dict[str, Any]:
    """The effective crawl arguments of a platform spider (from -a or from the config)."""
    names = {"tags": "tags", "base_url": "base_urls", "max_pages": "max_pages", "since": "since"}
    found = {}
    for name, attribute in names.items():
        value = getattr(spider, attribute, None)
        if value is not None:
            found[name] = value if isinstance(value, int | list | datetime) else str(value)
    return found


class RunRecorder:
    """Extension: one ``runs`` document per crawl, filled in at the end."""

    def __init__(self, crawler: Any):
        if crawler.settings.get("ARTWATCH_STORE") == "none":
            raise NotConfigured("ARTWATCH_STORE is none")
        self.crawler = crawler
        self.run_id: str | None = crawler.settings.get("ARTWATCH_RUN_ID") or None
        self.source = crawler.settings.get("ARTWATCH_SOURCE")
        self.store: AsyncStore | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> RunRecorder:
        return cls(crawler)

    async def spider_opened(self, spider: Any) -> None:
        fields = {
            "spider": spider.name,
            "args": spider_arguments(spider),
            "status": "running",
            "pid": os.getpid(),
            "crawl_started_at": datetime.now(UTC),
        }
        try:
            self.store = await AsyncStore.for_crawler(self.crawler).open()
            if self.run_id is None:
                source, started = self.source or spider.name, fields["crawl_started_at"]
                self.run_id = await self.store.start_run(
                    source, spider.name, fields["args"], pid=fields["pid"],
                    crawl_started_at=started, started_at=started,
                )  # fmt: skip
            else:
                await self.store.update_run(self.run_id, fields)
        except (StoreUnavailable, PyMongoError) as error:
            self.store = None  # the posts pipeline closes the spider and says why
            logger.debug("no run record: %s", error)

    async def spider_closed(self, spider: Any, reason: str) -> None:
        if self.store is None or self.run_id is None:
            return
        stats = dict(self.crawler.stats.get_stats())
        summary, drops = counts(stats)
        fields = {
            "status": STATUS_BY_REASON.get(reason, "failed"),
            "finish_reason": reason,
            "finished_at": datetime.now(UTC),
            "stats": mongo_safe(stats),
            "counts": summary,
            "drops": drops,
        }
        try:
            await self.store.update_run(self.run_id, fields)
        except PyMongoError as error:
            logger.error("could not record run %s: %s", self.run_id, error)
