"""The alert outbox's writes: one pending alert per hit and channel, enqueued idempotently.

A hit and its alerts live in two collections and MongoDB has no cheap multi-document
transaction on every deployment (nor on the embedded server), so "in the same step" means:
the crawl pipeline calls ``enqueue_alerts`` after EVERY upsert of a hit, whether or not that
upsert created it. Each write is an upsert keyed by ``(hit_id, channel)`` (a unique index in
``pipelines.store.sync.INDEXES``) carrying only ``$setOnInsert``, so a second call is a no-op and
can never reset an alert that is already sending, sent or failed. A crash between storing the
hit and enqueuing its alerts is therefore repaired by the next crawl of the same post: the
hit upsert finds the hit, and the enqueue creates the missing alerts — never a second one.
Everything that depends on the artist's preferences (``min_kind``, daily digest) and on the
flood guard is decided later, when the dispatcher claims the alert, so a preference changed
after the hit still applies. ``alert_writes`` is pure so that the async pipeline can apply
the same writes with ``AsyncMongoClient`` (``enqueue_alerts_async``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

CHANNELS = ("email", "webhook")

Write = tuple[dict[str, Any], dict[str, Any]]


def channels_of(artist: Mapping[str, Any]) -> list[str]:
    """The channels an artist can be reached on: email and/or a webhook URL."""
    fields = {"email": "email", "webhook": "webhook_url"}
    return [channel for channel in CHANNELS if artist.get(fields[channel])]


def alert_writes(
    hit_id: str, hit: Mapping[str, Any], artist: Mapping[str, Any], now: datetime
) -> list[Write]:
    """One ``(filter, update)`` upsert per channel of the artist, with ``$setOnInsert`` only."""
    fields = {
        "type": "hit",
        "artist_id": str(artist["_id"]),
        "artwork_id": hit["artwork_id"],
        "kind": hit["kind"],
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return [
        ({"hit_id": hit_id, "channel": channel}, {"$setOnInsert": fields})
        for channel in channels_of(artist)
    ]


def enqueue_alerts(db: Any, hit_id: str, hit: Mapping[str, Any], artist: Mapping[str, Any]) -> None:
    """Apply ``alert_writes`` to ``db.alerts`` (a pymongo Database); safe to repeat."""
    for key, update in alert_writes(hit_id, hit, artist, datetime.now(UTC)):
        # A concurrent enqueue of the same hit may insert first: the outcome is the same.
        with contextlib.suppress(DuplicateKeyError):
            db.alerts.update_one(key, update, upsert=True)


async def enqueue_alerts_async(
    db: Any, hit_id: str, hit: Mapping[str, Any], artist: Mapping[str, Any]
) -> None:
    """``enqueue_alerts`` for a database of pymongo's ``AsyncMongoClient``."""
    for key, update in alert_writes(hit_id, hit, artist, datetime.now(UTC)):
        with contextlib.suppress(DuplicateKeyError):
            await db.alerts.update_one(key, update, upsert=True)
