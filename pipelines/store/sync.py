"""The MongoDB store: every collection of DESIGN.md behind one small class.

Writes are idempotent upserts keyed by the natural identity of each record (``posts`` by
``platform:post_id``, ``images`` by sha256, ``hits`` by artwork+image+post), so a crawl that
is killed and run again stores each thing once; uniqueness is enforced by indexes created at
``open()``, never by reading first. Datetimes are tz-aware UTC. The store works the same
against MongoDB and the embedded nx-27017 server; the README lists where those differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from pipelines.errors import ArtWatchError, StoreUnavailable
from pipelines.store.hits import upsert_hit
from pipelines.store.writes import cursor_write, image_write, post_write

HIT_STATUSES = ("new", "confirmed", "dismissed")
CONNECT_TIMEOUT_MS = 3000

INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "artists": [([("email", ASCENDING)], {})],
    "artworks": [
        ([("artist_id", ASCENDING), ("sha256", ASCENDING)], {"unique": True}),
    ],
    "posts": [([("platform", ASCENDING), ("created_at", DESCENDING)], {})],
    "hits": [
        (
            [("artwork_id", ASCENDING), ("image_id", ASCENDING), ("post_id", ASCENDING)],
            {"unique": True},
        ),
        ([("artist_id", ASCENDING), ("status", ASCENDING)], {}),
    ],
    "alerts": [
        ([("hit_id", ASCENDING), ("channel", ASCENDING)], {"unique": True}),
        ([("status", ASCENDING), ("next_attempt_at", ASCENDING)], {}),
    ],
    "runs": [([("source", ASCENDING), ("started_at", DESCENDING)], {})],
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def redact_uri(uri: str) -> str:
    """The URI without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", uri)


def object_id(value: str, what: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise ArtWatchError(f"{what} {value!r} is not a valid id") from None


class Store:
    """Open with ``Store(uri).open()``; ``open`` fails fast with StoreUnavailable."""

    def __init__(self, uri: str, db_name: str = "artwatch", timeout_ms: int = CONNECT_TIMEOUT_MS):
        self.uri = uri
        self.client: MongoClient = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            tz_aware=True,
            tzinfo=UTC,
        )
        self.db = self.client[db_name]

    def open(self) -> Store:
        try:
            self.client.admin.command("ping")
            self.ensure_indexes()
        except PyMongoError as error:
            self.client.close()
            raise StoreUnavailable(
                f"cannot reach MongoDB at {redact_uri(self.uri)} (MONGODB_URI): "
                f"{type(error).__name__}"
            ) from error
        return self

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ensure_indexes(self) -> None:
        for collection, indexes in INDEXES.items():
            for keys, options in indexes:
                self.db[collection].create_index(keys, **options)

    # artists ---------------------------------------------------------------------------

    def add_artist(
        self,
        name: str,
        email: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> str:
        document = {
            "name": name,
            "email": email,
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "alert_mode": "instant",
            "created_at": utcnow(),
        }
        return str(self.db.artists.insert_one(document).inserted_id)

    def artist(self, artist_id: str) -> dict | None:
        return self.db.artists.find_one({"_id": object_id(artist_id, "artist id")})

    def artists(self) -> list[dict]:
        return list(self.db.artists.find().sort("created_at", ASCENDING))

    # artworks --------------------------------------------------------------------------

    def add_artwork(
        self, artist_id: str, sha256: str, fields: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Store one portfolio image; returns its id and False when the artist had it."""
        key = {"artist_id": artist_id, "sha256": sha256}
        try:
            result = self.db.artworks.update_one(
                key, {"$setOnInsert": {**fields, "created_at": utcnow()}}, upsert=True
            )
            created = result.upserted_id is not None
        except DuplicateKeyError:
            created = False  # a concurrent enrollment inserted it first
        return str(self.db.artworks.find_one(key, {"_id": 1})["_id"]), created

    def artworks(self, artist_id: str | None = None) -> Iterator[dict]:
        query = {} if artist_id is None else {"artist_id": artist_id}
        return self.db.artworks.find(query, {"thumbnail": 0}).sort("created_at", ASCENDING)

    # posts and images ------------------------------------------------------------------

    def upsert_post(self, post: Mapping[str, Any]) -> str:
        key, update = post_write(post, utcnow())
        self.db.posts.update_one(key, update, upsert=True)
        return key["_id"]

    def upsert_image(self, sha256: str, fields: Mapping[str, Any]) -> None:
        self.db.images.update_one(*image_write(sha256, fields, utcnow()), upsert=True)

    # hits ------------------------------------------------------------------------------

    def upsert_hit(
        self, artwork_id: str, image_id: str, post_id: str, fields: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Store a hit once; returns its id and whether this call created it."""
        key = {"artwork_id": artwork_id, "image_id": image_id, "post_id": post_id}
        return upsert_hit(self.db, {**fields, "status": "new", "found_at": utcnow(), **key})

    def hits(self, artist_id: str | None = None, status: str | None = None) -> list[dict]:
        query: dict[str, Any] = {}
        if artist_id is not None:
            query["artist_id"] = artist_id
        if status is not None:
            query["status"] = status
        projection = {"thumbnail": 0, "screenshot": 0}
        return list(self.db.hits.find(query, projection).sort("found_at", DESCENDING))

    def set_hit_status(self, hit_id: str, artist_id: str, status: str) -> bool:
        """Change a hit's status; only the artist who owns the hit can."""
        if status not in HIT_STATUSES:
            raise ArtWatchError(f"status {status!r} is not one of {', '.join(HIT_STATUSES)}")
        result = self.db.hits.update_one(
            {"_id": object_id(hit_id, "hit id"), "artist_id": artist_id},
            {"$set": {"status": status, "reviewed_at": utcnow()}},
        )
        return result.matched_count == 1

    def count_by(self, collection: str, field: str) -> dict[str, int]:
        pipeline = [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
        return {str(row["_id"]): row["n"] for row in self.db[collection].aggregate(pipeline)}

    # crawl cursors and runs -------------------------------------------------------------

    def cursor(self, spider: str, key: str) -> str | None:
        document = self.db.cursors.find_one({"_id": f"{spider}:{key}"})
        return None if document is None else document["value"]

    def save_cursor(self, spider: str, key: str, value: str) -> None:
        self.db.cursors.update_one(*cursor_write(spider, key, value, utcnow()), upsert=True)

    def start_run(self, source: str, spider: str, args: Mapping[str, str]) -> str:
        document = {
            "source": source,
            "spider": spider,
            "args": dict(args),
            "started_at": utcnow(),
            "status": "running",
        }
        return str(self.db.runs.insert_one(document).inserted_id)

    def finish_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        self.db.runs.update_one(
            {"_id": object_id(run_id, "run id")},
            {"$set": {**fields, "finished_at": utcnow()}},
        )

    def last_runs(self, limit: int = 20) -> list[dict]:
        return list(self.db.runs.find().sort("started_at", DESCENDING).limit(limit))

    def collection_counts(self, names: Iterable[str]) -> dict[str, int]:
        return {name: self.db[name].count_documents({}) for name in names}
