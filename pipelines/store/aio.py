"""The crawl's view of MongoDB: pymongo's ``AsyncMongoClient``, one per crawl, shared.

Every stage of the item pipeline and the runs extension get the same ``AsyncStore`` through
``AsyncStore.for_crawler(crawler)``: one connection pool per crawl process, opened (pinged,
indexes ensured) by the first component that needs it and closed when the engine stops. It
runs the same operations as the sync ``Store`` (``pipelines.store.operations``). A driver error
at opening becomes ``StoreUnavailable`` naming MONGODB_URI, which the pipelines turn into
closing the spider with reason ``store_unavailable``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine
from datetime import UTC
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from scrapy import signals

from pipelines.errors import StoreUnavailable
from pipelines.store.operations import Operation, Operations, run_async
from pipelines.store.sync import CONNECT_TIMEOUT_MS, redact_uri

_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Seconds an operation waits for MongoDB before the crawl is stopped (ARTWATCH_MONGODB_TIMEOUT).
DEFAULT_TIMEOUT = 10.0
MONITOR_TIMEOUT = 30.0


class AsyncStore(Operations):
    """What the crawl reads and writes; build it with ``for_crawler``. Every operation of
    ``Store`` is here too, as a coroutine."""

    def __init__(self, uri: str, db_name: str, timeout: float = DEFAULT_TIMEOUT):
        self.uri = uri
        # The driver's monitor uses connectTimeoutMS as its socket timeout: a server slowed
        # down by a busy crawl must not be declared gone (which cancels every operation in
        # flight), so it is generous; how long an operation waits for a server is `timeout`.
        self.client: AsyncMongoClient = AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=int(timeout * 1000),
            connectTimeoutMS=int(max(timeout, MONITOR_TIMEOUT) * 1000),
            tz_aware=True,
            tzinfo=UTC,
        )
        self.db = self.client[db_name]
        self._opened: asyncio.Future | None = None

    def _run(self, operation: Operation) -> Coroutine[Any, Any, Any]:
        return run_async(self.db, operation)

    @classmethod
    def for_crawler(cls, crawler: Any) -> AsyncStore:
        """The crawl's one store, from ARTWATCH_MONGODB_URI and ARTWATCH_DB_NAME."""
        store = _STORES.get(crawler)
        if store is None:
            uri = crawler.settings.get("ARTWATCH_MONGODB_URI")
            if not uri:
                raise StoreUnavailable(
                    "MONGODB_URI is not set and no embedded database was started "
                    "(artwatch.crawl_addon.EmbeddedDatabase in ADDONS starts one)"
                )
            store = cls(
                uri,
                crawler.settings.get("ARTWATCH_DB_NAME", "artwatch"),
                crawler.settings.getfloat("ARTWATCH_MONGODB_TIMEOUT", DEFAULT_TIMEOUT),
            )
            # Alert channel -> artist field, from the configured channel classes.
            channels = crawler.settings.getdict("ARTWATCH_ALERT_CHANNELS")
            store.alert_channels = channels or store.alert_channels
            _STORES[crawler] = store
            crawler.signals.connect(store.close, signal=signals.engine_stopped)
        return store

    def unavailable(self, error: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"cannot reach MongoDB at {redact_uri(self.uri)} (MONGODB_URI): "
            f"{type(error).__name__}: {error}"
        )

    async def open(self) -> AsyncStore:
        """Ping and ensure indexes once per crawl; raise StoreUnavailable naming the URI."""
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        await asyncio.shield(self._opened)
        return self

    async def _open(self) -> None:
        try:
            with pymongo.timeout(CONNECT_TIMEOUT_MS / 1000):  # fail fast at start
                await self.client.admin.command("ping")
            await self.ensure_indexes()
        except PyMongoError as error:
            raise self.unavailable(error) from error

    async def close(self) -> None:
        await self.client.close()
