"""Stage 3 of the item pipeline: look every fingerprinted image up in the portfolio index.

The ``PortfolioIndex`` is built from the ``artworks`` collection when the spider opens and
rebuilt when the portfolio changes: every ``ARTWATCH_PORTFOLIO_REFRESH`` seconds (default 30)
a cheap marker (number of artworks, newest id) is compared, and on a change only the new
artworks are read. A rebuilt index replaces the old one whole, so searches in flight keep a
consistent snapshot. Searches and builds run in a small thread pool, off the reactor thread.
Artworks whose fingerprint was made by another engine version are left out (and counted)
until ``artwatch portfolio refresh`` (run by ``artwatch run`` at start-up) re-reads them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import ConnectionFailure
from scrapy.exceptions import CloseSpider

from pipelines.engine.fingerprint import Fingerprint, is_current
from pipelines.engine.index import Match, PortfolioIndex
from pipelines.errors import StoreUnavailable
from pipelines.stages.items import CrawledPost
from pipelines.stages.posts import StoreStage, stop_for_store

logger = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class Found:
    """A match with what the store stage needs to write the hit and its alerts."""

    match: Match
    artwork: dict[str, Any]  # _id, artist_id, filename
    artist: dict[str, Any]


@dataclass
class Portfolio:
    """One consistent snapshot: the index and the documents its ids point to."""

    marker: tuple[int, str | None] = (0, None)
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    artworks: dict[str, dict[str, Any]] = field(default_factory=dict)
    artists: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: PortfolioIndex = field(default_factory=PortfolioIndex)


def build_index(fingerprints: dict[str, Fingerprint]) -> PortfolioIndex:
    """Add every artwork and search once, so the index builds here and not in a crawl search."""
    index = PortfolioIndex()
    for artwork_id, fp in fingerprints.items():
        index.add(artwork_id, fp)
    if fingerprints:
        index.search(next(iter(fingerprints.values())))
    return index


class MatchStage(StoreStage):
    """Attach ``Found`` matches to every image of a ``CrawledPost`` that has a fingerprint."""

    def __init__(self, crawler: Any):
        super().__init__(crawler)
        self.refresh_seconds = crawler.settings.getfloat(
            "ARTWATCH_PORTFOLIO_REFRESH", DEFAULT_REFRESH_SECONDS
        )
        self.pool = ThreadPoolExecutor(2, thread_name_prefix="artwatch-search")
        self.portfolio = Portfolio()
        self._checked = 0.0
        self._refreshing: asyncio.Future | None = None

    async def open_spider(self) -> None:
        try:
            await self.store.open()
            await self._refresh()
        except (StoreUnavailable, ConnectionFailure) as error:
            raise CloseSpider("store_unavailable") from error

    async def close_spider(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, CrawledPost):
            return item
        self._maybe_refresh()
        portfolio = self.portfolio
        loop = asyncio.get_running_loop()
        for image in item.images:
            if image.fingerprint is None or not portfolio.fingerprints:
                continue
            matches = await loop.run_in_executor(
                self.pool, portfolio.index.search, image.fingerprint
            )
            image.matches = [
                Found(m, portfolio.artworks[m.artwork_id], artist)
                for m in matches
                if (artist := portfolio.artists.get(portfolio.artworks[m.artwork_id]["artist_id"]))
            ]
            self.crawler.stats.inc_value("artwatch/matches", len(image.matches))
        return item

    def _maybe_refresh(self) -> None:
        due = time.monotonic() - self._checked >= self.refresh_seconds
        if due and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.ensure_future(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh()
        except ConnectionFailure as error:
            stop_for_store(self.crawler, self.store, error)

    async def _refresh(self) -> None:
        self._checked = time.monotonic()
        marker = await self.store.portfolio_marker()
        old = self.portfolio
        if marker == old.marker:
            return
        ids = await self.store.artwork_ids()
        new = Portfolio(marker=marker)
        for artwork_id in ids & old.fingerprints.keys():
            new.fingerprints[artwork_id] = old.fingerprints[artwork_id]
            new.artworks[artwork_id] = old.artworks[artwork_id]
        stale = 0
        unread = None if not old.fingerprints else ids - old.fingerprints.keys()
        async for artwork in await self.store.artwork_fingerprints(unread):
            if not is_current(artwork.get("fingerprint")):
                stale += 1
                continue
            artwork_id = str(artwork["_id"])
            new.fingerprints[artwork_id] = Fingerprint.from_document(artwork["fingerprint"])
            new.artworks[artwork_id] = {
                "_id": artwork["_id"],
                "artist_id": artwork["artist_id"],
                "filename": artwork.get("filename"),
            }
        artist_ids = {a["artist_id"] for a in new.artworks.values()}
        new.artists = await self.store.artists_by_id(artist_ids)
        loop = asyncio.get_running_loop()
        new.index = await loop.run_in_executor(self.pool, build_index, new.fingerprints)
        self.portfolio = new
        self.crawler.stats.set_value("artwatch/portfolio/artworks", len(new.fingerprints))
        if stale:
            self.crawler.stats.inc_value("artwatch/portfolio/stale_artworks", stale)
        logger.info("portfolio index: %d artworks (%d stale skipped)", len(new.fingerprints), stale)
