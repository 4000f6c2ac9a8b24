"""Every store operation, written once for both faces of the store.

An operation is a generator that yields ``Call``s (one pymongo collection method with its
arguments) and gets each call's result back; ``Store`` runs the calls with pymongo's
``MongoClient`` and ``AsyncStore`` with its ``AsyncMongoClient``. So both offer the same
methods with the same arguments and results (``AsyncStore``'s are awaited), a record looks
the same whoever wrote it, and ``tests/test_store_contract.py`` runs one suite over both.
A driver error raised by a call is thrown into the operation, which may handle it (a
``DuplicateKeyError`` from a concurrent upsert) or let it pass to the caller.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from pipelines.errors import ArtWatchError
from pipelines.store.alerts import CHANNEL_FIELDS, alert_writes
from pipelines.store.hits import hit_write, suppression_filter
from pipelines.store.writes import (
    cursor_write,
    image_write,
    object_id,
    post_write,
    processed_write,
    utcnow,
)

HIT_STATUSES = ("new", "confirmed", "dismissed")
NO_IMAGES = {"thumbnail": 0, "screenshot": 0}

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


@dataclass(frozen=True)
class Call:
    """One collection method call; ``find``/``aggregate`` give a list unless ``stream``."""

    collection: str
    method: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    def run(self, db: Any) -> Any:
        result = getattr(db[self.collection], self.method)(*self.args, **self.kwargs)
        if self.method in ("find", "aggregate") and not self.stream:
            return list(result)
        return result

    async def run_async(self, db: Any) -> Any:
        result = getattr(db[self.collection], self.method)(*self.args, **self.kwargs)
        if self.method == "find":  # an AsyncCursor, not a coroutine
            return result if self.stream else await result.to_list()
        result = await result
        return await result.to_list() if self.method == "aggregate" else result


class On:
    """``On("hits").find_one(...)`` is the Call of ``db.hits.find_one(...)``."""

    def __init__(self, collection: str):
        self.collection = collection

    def __getattr__(self, method: str) -> Callable[..., Call]:
        return lambda *args, **kwargs: Call(self.collection, method, args, kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Call:
        """A ``find`` whose cursor is handed back, to iterate with ``for`` or ``async for``."""
        return Call(self.collection, "find", args, kwargs, stream=True)


ARTISTS, ARTWORKS, POSTS, IMAGES = On("artists"), On("artworks"), On("posts"), On("images")
HITS, ALERTS, CURSORS, RUNS = On("hits"), On("alerts"), On("cursors"), On("runs")
OPERATOR = On("operator")  # one document: the instance operator's sign-in (web app)
HEALTH = On("health")  # one document per source: its runs against its expectations

Operation = Generator[Call, Any, Any]


def run_sync(db: Any, operation: Operation) -> Any:
    """Run an operation's calls with a sync pymongo ``Database``."""
    result, error = None, None
    while True:
        try:
            call = operation.send(result) if error is None else operation.throw(error)
        except StopIteration as stop:
            return stop.value
        try:
            result, error = call.run(db), None
        except Exception as raised:  # handed to the operation, which may expect it
            result, error = None, raised


async def run_async(db: Any, operation: Operation) -> Any:
    """Run an operation's calls with a database of pymongo's ``AsyncMongoClient``."""
    result, error = None, None
    while True:
        try:
            call = operation.send(result) if error is None else operation.throw(error)
        except StopIteration as stop:
            return stop.value
        try:
            result, error = await call.run_async(db), None
        except Exception as raised:
            result, error = None, raised


def operation(method: Callable[..., Operation]) -> Callable[..., Any]:
    """Make a generator method a store method: ``Store`` returns its result, ``AsyncStore``
    a coroutine of it."""

    @functools.wraps(method)
    def apply(self: Operations, *args: Any, **kwargs: Any) -> Any:
        return self._run(method(self, *args, **kwargs))

    return apply


def _owned(document_id: str, what: str, artist_id: str | None) -> dict[str, Any]:
    """The query for one document by id, of ``artist_id`` when given."""
    query: dict[str, Any] = {"_id": object_id(document_id, what)}
    if artist_id is not None:
        query["artist_id"] = artist_id
    return query


def _ids_in(ids: Iterable[str]) -> dict[str, list[ObjectId]]:
    """``$in`` over the valid ones of ``ids``: an id that cannot exist matches nothing."""
    return {"$in": [ObjectId(i) for i in ids if ObjectId.is_valid(i)]}


def _by_id(documents: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(document["_id"]): document for document in documents}


class Operations:
    """The store contract; subclasses provide ``db`` and ``_run``."""

    db: Any
    # Alert channel -> artist field, set by whoever opens the store from the channel setting.
    alert_channels: Mapping[str, str] = CHANNEL_FIELDS

    def _run(self, operation: Operation) -> Any:
        raise NotImplementedError

    @property
    def db_name(self) -> str:
        return self.db.name

    @operation
    def ensure_indexes(self) -> Operation:
        for collection, indexes in INDEXES.items():
            for keys, options in indexes:
                yield On(collection).create_index(keys, **options)

    # artists ---------------------------------------------------------------------------

    @operation
    def add_artist(
        self,
        name: str,
        email: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> Operation:
        document = {
            "name": name,
            "email": email,
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "alert_mode": "instant",
            "created_at": utcnow(),
        }
        return str((yield ARTISTS.insert_one(document)).inserted_id)

    @operation
    def artist(self, artist_id: str) -> Operation:
        """The artist, or None; an id that is not an ObjectId raises ArtWatchError."""
        return (yield ARTISTS.find_one({"_id": object_id(artist_id, "artist id")}))

    @operation
    def artists(self) -> Operation:
        return (yield ARTISTS.find(sort=[("created_at", ASCENDING)]))

    @operation
    def artists_by_id(self, ids: Iterable[str]) -> Operation:
        return _by_id((yield ARTISTS.find({"_id": _ids_in(ids)})))

    @operation
    def update_artist(self, artist_id: str, fields: Mapping[str, Any]) -> Operation:
        """Set fields of an artist (preferences, login token); False when there is none."""
        key = {"_id": object_id(artist_id, "artist id")}
        return (yield ARTISTS.update_one(key, {"$set": dict(fields)})).matched_count == 1

    @operation
    def set_login_token(self, artist_id: str, token_sha256: str, expires_at: datetime) -> Operation:
        """A new sign-in token for the artist; its older token and every session end."""
        key = {"_id": object_id(artist_id, "artist id")}
        update = {
            "$set": {"login_token_sha256": token_sha256, "login_token_expires_at": expires_at},
            "$inc": {"session_version": 1},
        }
        return (yield ARTISTS.update_one(key, update)).matched_count == 1

    @operation
    def consume_login_token(self, token_sha256: str, now: datetime) -> Operation:
        """The artist whose unexpired token this is, the token spent in the same write."""
        query = {"login_token_sha256": token_sha256, "login_token_expires_at": {"$gt": now}}
        update = {"$unset": {"login_token_sha256": "", "login_token_expires_at": ""}}
        after = ReturnDocument.AFTER
        return (yield ARTISTS.find_one_and_update(query, update, return_document=after))

    @operation
    def end_sessions(self, artist_id: str) -> Operation:
        """Sign the artist out everywhere: sessions carry the version they began under."""
        key = {"_id": object_id(artist_id, "artist id")}
        yield ARTISTS.update_one(key, {"$inc": {"session_version": 1}})

    @operation
    def set_operator_token(self, token_sha256: str, expires_at: datetime) -> Operation:
        """``set_login_token`` for the instance's operator (``artwatch admin login-link``)."""
        update = {
            "$set": {"login_token_sha256": token_sha256, "login_token_expires_at": expires_at},
            "$inc": {"session_version": 1},
        }
        yield OPERATOR.update_one({"_id": "operator"}, update, upsert=True)

    @operation
    def consume_operator_token(self, token_sha256: str, now: datetime) -> Operation:
        """``consume_login_token`` for the operator: the operator document, or None."""
        query = {
            "_id": "operator",
            "login_token_sha256": token_sha256,
            "login_token_expires_at": {"$gt": now},
        }
        update = {"$unset": {"login_token_sha256": "", "login_token_expires_at": ""}}
        after = ReturnDocument.AFTER
        return (yield OPERATOR.find_one_and_update(query, update, return_document=after))

    @operation
    def operator(self) -> Operation:
        return (yield OPERATOR.find_one({"_id": "operator"}, {"session_version": 1}))

    # artworks --------------------------------------------------------------------------

    @operation
    def add_artwork(self, artist_id: str, sha256: str, fields: Mapping[str, Any]) -> Operation:
        """Store one portfolio image; returns its id and False when the artist had it."""
        key = {"artist_id": artist_id, "sha256": sha256}
        update = {"$setOnInsert": {**fields, "created_at": utcnow()}}
        try:
            created = (yield ARTWORKS.update_one(key, update, upsert=True)).upserted_id is not None
        except DuplicateKeyError:
            created = False  # a concurrent enrollment inserted it first
        return str((yield ARTWORKS.find_one(key, {"_id": 1}))["_id"]), created

    @operation
    def add_artworks(self, documents: Iterable[Mapping[str, Any]]) -> Operation:
        """Insert many fingerprinted artworks at once (the benchmarks' synthetic portfolio)."""
        stamped = [{**document, "created_at": utcnow()} for document in documents]
        if stamped:
            yield ARTWORKS.insert_many(stamped)

    @operation
    def has_artwork(self, artist_id: str, sha256: str) -> Operation:
        found = yield ARTWORKS.find_one({"artist_id": artist_id, "sha256": sha256}, {"_id": 1})
        return found is not None

    @operation
    def artwork(self, artwork_id: str, artist_id: str | None = None) -> Operation:
        """The artwork (of ``artist_id`` when given), or None."""
        return (yield ARTWORKS.find_one(_owned(artwork_id, "artwork id", artist_id)))

    @operation
    def artworks(self, artist_id: str | None = None) -> Operation:
        """Artworks without their thumbnail, oldest first: all, or one artist's."""
        query = {} if artist_id is None else {"artist_id": artist_id}
        found = yield ARTWORKS.find(query, {"thumbnail": 0}, sort=[("created_at", ASCENDING)])
        return found

    @operation
    def remove_artwork(self, artwork_id: str, artist_id: str) -> Operation:
        """Delete one of the artist's artworks (its hits stay, as evidence); False if none."""
        query = {"_id": object_id(artwork_id, "artwork id"), "artist_id": artist_id}
        return (yield ARTWORKS.delete_one(query)).deleted_count == 1

    @operation
    def artworks_by_id(self, ids: Iterable[str]) -> Operation:
        return _by_id((yield ARTWORKS.find({"_id": _ids_in(ids)})))

    @operation
    def count_artworks(self, artist_id: str) -> Operation:
        return (yield ARTWORKS.count_documents({"artist_id": artist_id}))

    @operation
    def update_artwork(self, artwork_id: str, fields: Mapping[str, Any]) -> Operation:
        key = {"_id": object_id(artwork_id, "artwork id")}
        yield ARTWORKS.update_one(key, {"$set": dict(fields)})

    @operation
    def portfolio_marker(self) -> Operation:
        """(number of artworks, newest artwork id): changes when artworks come or go."""
        count = yield ARTWORKS.estimated_document_count()
        newest = yield ARTWORKS.find_one({}, {"_id": 1}, sort=[("_id", DESCENDING)])
        return count, None if newest is None else str(newest["_id"])

    @operation
    def artwork_ids(self) -> Operation:
        return {str(document["_id"]) for document in (yield ARTWORKS.find({}, {"_id": 1}))}

    @operation
    def artwork_fingerprints(self, ids: Iterable[str] | None = None) -> Operation:
        """A cursor over artworks with their fingerprint (no thumbnail), all or ``ids``."""
        query = {} if ids is None else {"_id": _ids_in(ids)}
        return (yield ARTWORKS.stream(query, {"artist_id": 1, "fingerprint": 1, "filename": 1}))

    # posts, images and cursors ---------------------------------------------------------

    @operation
    def upsert_post(self, post: Mapping[str, Any]) -> Operation:
        key, update = post_write(post, utcnow())
        yield POSTS.update_one(key, update, upsert=True)
        return key["_id"]

    @operation
    def mark_processed(self, post_key: str) -> Operation:
        yield POSTS.update_one(*processed_write(post_key, utcnow()))

    @operation
    def is_processed(self, post_key: str) -> Operation:
        document = yield _touch(POSTS, post_key, {"processed_at": 1})
        return bool(document and document.get("processed_at"))

    @operation
    def processed_before(self, legacy_key: str, instance: str | None = None) -> Operation:
        """True when a release before per-instance keys processed this post under
        ``legacy_key`` (its hits exist; doing it again under the new key would repeat them) —
        found on ``instance`` when given, since another instance's post of that id is another post.
        """
        document = yield POSTS.find_one({"_id": legacy_key}, {"processed_at": 1, "instance": 1})
        if not document or not document.get("processed_at"):
            return False
        return instance is None or document.get("instance") == instance

    @operation
    def posts_with_image(self, sha256: str) -> Operation:
        return (yield POSTS.find({"images.sha256": sha256}))

    @operation
    def insert_image(self, sha256: str, fields: Mapping[str, Any]) -> Operation:
        """Store an image once by the sha256 of its bytes; a second sighting changes nothing."""
        yield IMAGES.update_one(*image_write(sha256, fields, utcnow()), upsert=True)

    @operation
    def images(self, sha256s: Iterable[str]) -> Operation:
        """Stored images among ``sha256s``, with their fingerprint and thumbnail."""
        found = {}
        for sha256 in set(sha256s):
            if document := (yield _touch(IMAGES, sha256)):
                found[sha256] = document
        return found

    @operation
    def all_images(self) -> Operation:
        """A cursor over every stored image (the back-scan)."""
        return (yield IMAGES.stream({}))

    @operation
    def refresh_fingerprint(self, sha256: str, fingerprint: Mapping[str, Any]) -> Operation:
        """Replace a fingerprint made by an older engine version."""
        yield IMAGES.update_one({"_id": sha256}, {"$set": {"fingerprint": fingerprint}})

    @operation
    def cursors(self, spider: str) -> Operation:
        found = yield CURSORS.find({"spider": spider}, {"key": 1, "value": 1})
        return {document["key"]: document["value"] for document in found}

    @operation
    def save_cursor(self, spider: str, key: str, value: str) -> Operation:
        yield CURSORS.update_one(*cursor_write(spider, key, value, utcnow()), upsert=True)

    # hits and their alerts -------------------------------------------------------------

    @operation
    def record_hit(self, hit: Mapping[str, Any], artist: Mapping[str, Any]) -> Operation:
        """Store ``hit`` once and enqueue its alerts; returns (hit id, created).

        ``(None, False)`` when a dismissed hit of the same artwork and image suppresses it
        (see ``pipelines.store.hits``). The alerts are enqueued on every call, new hit or not,
        which repairs a crash between the two writes.
        """
        if (yield HITS.find_one(suppression_filter(hit), {"_id": 1})) is not None:
            return None, False
        hit_id, created = yield from _upsert_hit(hit)
        yield from _enqueue_alerts(hit_id, hit, artist, self.alert_channels)
        return hit_id, created

    @operation
    def upsert_hit(self, hit: Mapping[str, Any]) -> Operation:
        """Only the hit write of ``record_hit``: no suppression, no alerts (benchmarks)."""
        return (yield from _upsert_hit(hit))

    @operation
    def enqueue_alerts(
        self, hit_id: str, hit: Mapping[str, Any], artist: Mapping[str, Any]
    ) -> Operation:
        """Only the alert writes of ``record_hit``; safe to repeat."""
        yield from _enqueue_alerts(hit_id, hit, artist, self.alert_channels)

    @operation
    def hit(self, hit_id: str, artist_id: str | None = None) -> Operation:
        """The hit (of ``artist_id`` when given), or None; a malformed id raises ArtWatchError."""
        return (yield HITS.find_one(_owned(hit_id, "hit id", artist_id)))

    @operation
    def hits(self, artist_id: str | None = None, status: str | None = None) -> Operation:
        """Hits without their pictures, newest first."""
        query: dict[str, Any] = {}
        if artist_id is not None:
            query["artist_id"] = artist_id
        if status is not None:
            query["status"] = status
        return (yield HITS.find(query, NO_IMAGES, sort=[("found_at", DESCENDING)]))

    @operation
    def hits_page(
        self, artist_id: str, filters: Mapping[str, Any], skip: int = 0, limit: int = 50
    ) -> Operation:
        """One page of the artist's hits without pictures, newest first, and their total.

        ``filters`` may hold ``status``, ``kind``, ``platform`` (exact values) and
        ``since``/``until`` (datetimes bounding ``found_at``).
        """
        query: dict[str, Any] = {"artist_id": artist_id}
        query.update({k: filters[k] for k in ("status", "kind", "platform") if filters.get(k)})
        bounds = (("since", "$gte"), ("until", "$lt"))
        found_at = {op: filters[k] for k, op in bounds if filters.get(k) is not None}
        if found_at:
            query["found_at"] = found_at
        total = yield HITS.count_documents(query)
        sort = [("found_at", DESCENDING), ("_id", DESCENDING)]
        page = yield HITS.find(query, NO_IMAGES, sort=sort, skip=skip, limit=limit)
        return page, total

    @operation
    def hit_platforms(self, artist_id: str) -> Operation:
        """The platforms the artist has hits on, for the review queue's filter."""
        return sorted((yield HITS.distinct("platform", {"artist_id": artist_id})))

    @operation
    def set_hits_status(self, hit_ids: Iterable[str], artist_id: str, status: str) -> Operation:
        """``set_hit_status`` for several of the artist's hits; the number changed."""
        if status not in HIT_STATUSES:
            raise ArtWatchError(f"status {status!r} is not one of {', '.join(HIT_STATUSES)}")
        query = {"_id": _ids_in(hit_ids), "artist_id": artist_id}
        update = {"$set": {"status": status, "reviewed_at": utcnow()}}
        return (yield HITS.update_many(query, update)).matched_count

    @operation
    def hits_by_id(self, ids: Iterable[str]) -> Operation:
        return _by_id((yield HITS.find({"_id": _ids_in(ids)})))

    @operation
    def set_hit_status(self, hit_id: str, artist_id: str, status: str) -> Operation:
        """Change a hit's status; only the artist who owns the hit can."""
        if status not in HIT_STATUSES:
            raise ArtWatchError(f"status {status!r} is not one of {', '.join(HIT_STATUSES)}")
        result = yield HITS.update_one(
            {"_id": object_id(hit_id, "hit id"), "artist_id": artist_id},
            {"$set": {"status": status, "reviewed_at": utcnow()}},
        )
        return result.matched_count == 1

    @operation
    def count_hit_posts(self, artwork_id: str, start: datetime, end: datetime) -> Operation:
        """Distinct posts with a hit on the artwork found between ``start`` and ``end``."""
        query = {"artwork_id": artwork_id, "found_at": {"$gte": start, "$lte": end}}
        return len((yield HITS.distinct("post_id", query)))

    @operation
    def alerts(self, status: str | None = None, limit: int = 0) -> Operation:
        """Alerts, newest first: all, or those in ``status``; ``limit`` 0 means no limit."""
        query = {} if status is None else {"status": status}
        return (yield ALERTS.find(query, sort=[("_id", DESCENDING)], limit=limit))

    @operation
    def alert_hit_ids(self, alert: Mapping[str, Any]) -> Operation:
        """The hits an alert is about: its own, or its summary's members in order."""
        if alert["type"] == "hit":
            return [alert["hit_id"]]
        query = {"summary_key": alert["hit_id"], "channel": alert["channel"]}
        members = yield ALERTS.find(query, {"hit_id": 1}, sort=[("_id", ASCENDING)])
        return [member["hit_id"] for member in members]

    @operation
    def count_alerts(self, channel: str, status: str) -> Operation:
        return (yield ALERTS.count_documents({"channel": channel, "status": status}))

    # crawl runs ------------------------------------------------------------------------

    @operation
    def start_run(
        self, source: str, spider: str, args: Mapping[str, Any], **fields: Any
    ) -> Operation:
        """A ``running`` run of ``spider`` for ``source``; returns its id."""
        document = {
            "source": source,
            "spider": spider,
            "args": dict(args),
            "started_at": utcnow(),
            "status": "running",
            **fields,
        }
        return str((yield RUNS.insert_one(document)).inserted_id)

    @operation
    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> Operation:
        yield RUNS.update_one({"_id": object_id(run_id, "run id")}, {"$set": dict(fields)})

    @operation
    def finish_run(self, run_id: str, fields: Mapping[str, Any]) -> Operation:
        """``update_run`` stamping ``finished_at``."""
        update = {"$set": {**fields, "finished_at": utcnow()}}
        yield RUNS.update_one({"_id": object_id(run_id, "run id")}, update)

    @operation
    def run(self, run_id: str) -> Operation:
        return (yield RUNS.find_one({"_id": object_id(run_id, "run id")}))

    @operation
    def last_run(self, source: str) -> Operation:
        return (yield RUNS.find_one({"source": source}, sort=[("started_at", DESCENDING)]))

    @operation
    def last_runs(self, limit: int = 20) -> Operation:
        return (yield RUNS.find(sort=[("started_at", DESCENDING)], limit=limit))

    @operation
    def runs_by_source(self) -> Operation:
        """Every run without its Scrapy stats, by source name."""
        return (yield RUNS.find({}, {"stats": 0}, sort=[("source", ASCENDING)]))

    @operation
    def running_runs(self, host: str) -> Operation:
        """Runs still ``running`` that a runner on ``host`` started."""
        return (yield RUNS.find({"status": "running", "runner.host": host}))

    # source health -----------------------------------------------------------------------

    @operation
    def source_health(self, source: str) -> Operation:
        """A source's health record (``artwatch.health``), None before its first checked run."""
        return (yield HEALTH.find_one({"_id": source}))

    @operation
    def save_source_health(self, source: str, fields: Mapping[str, Any]) -> Operation:
        yield HEALTH.update_one({"_id": source}, {"$set": dict(fields)}, upsert=True)

    @operation
    def sources_health(self) -> Operation:
        return (yield HEALTH.find({}, sort=[("_id", ASCENDING)]))

    # status ----------------------------------------------------------------------------

    @operation
    def collection_counts(self, names: Iterable[str]) -> Operation:
        counts = {}
        for name in names:
            counts[name] = yield On(name).count_documents({})
        return counts

    @operation
    def count_by(self, collection: str, field: str) -> Operation:
        pipeline = [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
        return {str(row["_id"]): row["n"] for row in (yield On(collection).aggregate(pipeline))}

    @operation
    def clear(self, names: Iterable[str]) -> Operation:
        """Delete every document of these collections (a benchmark's fresh start)."""
        for name in names:
            yield On(name).delete_many({})

    @operation
    def scheduled_jobs(self, collection: str) -> Operation:
        """APScheduler's stored jobs (their ``next_run_time``), read without a scheduler."""
        return (yield On(collection).find({}, {"next_run_time": 1}))


def _touch(on: On, key: str, projection: Any = None) -> Call:
    """The document with this ``_id`` (or None), stamping ``last_seen_at`` on it.

    A lookup by ``_id`` written as an update: on MongoDB it costs an indexed write, but the
    embedded nx-27017 server answers ``find`` by scanning (and decoding) the whole collection,
    hundreds of milliseconds once a crawl has stored a few thousand images, while its update
    path goes straight to the row.
    """
    return on.find_one_and_update(
        {"_id": key}, {"$set": {"last_seen_at": utcnow()}}, projection=projection
    )


def _upsert_hit(hit: Mapping[str, Any]) -> Operation:
    key, update = hit_write(hit)
    try:
        created = (yield HITS.update_one(key, update, upsert=True)).upserted_id is not None
    except DuplicateKeyError:
        created = False  # a concurrent writer inserted it between our match and insert
    return str((yield HITS.find_one(key, {"_id": 1}))["_id"]), created


def _enqueue_alerts(
    hit_id: str, hit: Mapping[str, Any], artist: Mapping[str, Any], channels: Mapping[str, str]
) -> Operation:
    for key, update in alert_writes(hit_id, hit, artist, utcnow(), channels):
        # A concurrent enqueue of the same hit may insert first: the outcome is the same.
        with contextlib.suppress(DuplicateKeyError):
            yield ALERTS.update_one(key, update, upsert=True)
