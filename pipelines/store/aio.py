"""The crawl's view of MongoDB: pymongo's ``AsyncMongoClient``, one per crawl, shared.

Every stage of the item pipeline and the runs extension get the same ``AsyncStore`` through
``AsyncStore.for_crawler(crawler)``: one connection pool per crawl process, opened (pinged,
indexes ensured) by the first component that needs it and closed when the engine stops. It
applies the same ``(filter, update)`` pairs as the sync ``Store`` (``pipelines.store.writes``,
``pipelines.store.hits``). Any driver error becomes ``StoreUnavailable`` naming MONGODB_URI, which
the pipelines turn into closing the spider with reason ``store_unavailable``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from scrapy import signals

from pipelines.errors import StoreUnavailable
from pipelines.store.sync import CONNECT_TIMEOUT_MS, INDEXES, redact_uri
from pipelines.store.writes import cursor_write, image_write, post_write, processed_write

_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Seconds an operation waits for MongoDB before the crawl is stopped (ARTWATCH_MONGODB_TIMEOUT).
DEFAULT_TIMEOUT = 10.0
MONITOR_TIMEOUT = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def _object_ids(ids: Iterable[str]) -> list[ObjectId]:
    return [ObjectId(i) for i in ids if ObjectId.is_valid(i)]


class AsyncStore:
    """What the crawl reads and writes; build it with ``for_crawler``."""

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

    @classmethod
    def for_crawler(cls, crawler: Any) -> AsyncStore:
        """The crawl's one store, from ARTWATCH_MONGODB_URI and ARTWATCH_DB_NAME."""
        store = _STORES.get(crawler)
        if store is None:
            uri = crawler.settings.get("ARTWATCH_MONGODB_URI")
            if not uri:
                raise StoreUnavailable(
                    "MONGODB_URI is not set and no embedded database was started "
                    "(crawler.extensions.EmbeddedDatabase in ADDONS starts one)"
                )
            store = cls(
                uri,
                crawler.settings.get("ARTWATCH_DB_NAME", "artwatch"),
                crawler.settings.getfloat("ARTWATCH_MONGODB_TIMEOUT", DEFAULT_TIMEOUT),
            )
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
            for collection, indexes in INDEXES.items():
                for keys, options in indexes:
                    await self.db[collection].create_index(keys, **options)
        except PyMongoError as error:
            raise self.unavailable(error) from error

    async def close(self) -> None:
        await self.client.close()

    # posts and cursors ------------------------------------------------------------------

    async def is_processed(self, post_key: str) -> bool:
        document = await self._touch(self.db.posts, post_key, {"processed_at": 1})
        return bool(document and document.get("processed_at"))

    async def _touch(self, collection: Any, key: str, projection: Any = None) -> dict | None:
        """The document with this ``_id`` (or None), stamping ``last_seen_at`` on it.

        A lookup by ``_id`` written as an update: on MongoDB it costs an indexed write, but
        the embedded nx-27017 server answers ``find`` by scanning (and decoding) the whole
        collection, hundreds of milliseconds once a crawl has stored a few thousand images,
        while its update path goes straight to the row.
        """
        return await collection.find_one_and_update(
            {"_id": key}, {"$set": {"last_seen_at": utcnow()}}, projection=projection
        )

    async def cursors(self, spider: str) -> dict[str, str]:
        found = self.db.cursors.find({"spider": spider}, {"key": 1, "value": 1})
        return {document["key"]: document["value"] async for document in found}

    async def save_cursor(self, spider: str, key: str, value: str) -> None:
        await self.db.cursors.update_one(*cursor_write(spider, key, value, utcnow()), upsert=True)

    async def upsert_post(self, post: Mapping[str, Any]) -> None:
        await self.db.posts.update_one(*post_write(post, utcnow()), upsert=True)

    async def mark_processed(self, post_key: str) -> None:
        await self.db.posts.update_one(*processed_write(post_key, utcnow()))

    # images -----------------------------------------------------------------------------

    async def images(self, sha256s: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored images among ``sha256s``, with their fingerprint and thumbnail."""
        found = {sha256: await self._touch(self.db.images, sha256) for sha256 in set(sha256s)}
        return {sha256: document for sha256, document in found.items() if document}

    async def insert_image(self, sha256: str, fields: Mapping[str, Any]) -> None:
        await self.db.images.update_one(*image_write(sha256, fields, utcnow()), upsert=True)

    async def refresh_fingerprint(self, sha256: str, fingerprint: Mapping[str, Any]) -> None:
        """Replace a fingerprint made by an older engine version."""
        await self.db.images.update_one({"_id": sha256}, {"$set": {"fingerprint": fingerprint}})

    # the portfolio ----------------------------------------------------------------------

    async def portfolio_marker(self) -> tuple[int, str | None]:
        """(number of artworks, newest artwork id): changes when artworks come or go."""
        count = await self.db.artworks.estimated_document_count()
        newest = await self.db.artworks.find_one({}, {"_id": 1}, sort=[("_id", -1)])
        return count, None if newest is None else str(newest["_id"])

    async def artwork_ids(self) -> set[str]:
        return {str(doc["_id"]) async for doc in self.db.artworks.find({}, {"_id": 1})}

    async def artworks(self, ids: Iterable[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Artworks with their fingerprint (no thumbnail): all of them, or those of ``ids``."""
        query = {} if ids is None else {"_id": {"$in": _object_ids(ids)}}
        projection = {"artist_id": 1, "fingerprint": 1, "filename": 1}
        async for document in self.db.artworks.find(query, projection):
            yield document

    async def artists(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        query = {"_id": {"$in": _object_ids(ids)}}
        return {str(a["_id"]): a async for a in self.db.artists.find(query)}

    # runs -------------------------------------------------------------------------------

    async def start_run(self, document: Mapping[str, Any]) -> str:
        result = await self.db.runs.insert_one(dict(document))
        return str(result.inserted_id)

    async def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        await self.db.runs.update_one({"_id": ObjectId(run_id)}, {"$set": dict(fields)})
