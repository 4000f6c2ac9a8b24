"""Enqueueing alerts: one pending alert per hit and channel, written idempotently.

A hit and its alerts live in two collections and MongoDB has no cheap multi-document
transaction on every deployment (nor on the embedded server), so "in the same step" means:
the store's ``record_hit`` applies ``alert_writes`` after EVERY upsert of a hit, whether or
not that upsert created it. Each write is an upsert keyed by ``(hit_id, channel)`` (a unique
index in ``pipelines.store.operations.INDEXES``) carrying only ``$setOnInsert``, so a second
call is a no-op and can never reset an alert that is already sending, sent or failed. A crash
between storing the hit and enqueuing its alerts is therefore repaired by the next crawl of
the same post: the hit upsert finds the hit, and the enqueue creates the missing alerts —
never a second one.
Everything that depends on the artist's preferences (``min_kind``, daily digest) and on the
flood guard is decided later, when the dispatcher claims the alert (``pipelines.store.outbox``),
so a preference changed after the hit still applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Alert channel -> the artist field that must be set for an artist to be reachable on it. The
# service and the crawl pass what the configured channel classes declare (their
# ``artist_field``, ARTWATCH_ALERT_CHANNELS in ``artwatch.alerts.channels``); this is what the
# built-in channels declare, for a store nobody configured.
CHANNEL_FIELDS: Mapping[str, str] = {"email": "email", "webhook": "webhook_url"}

Write = tuple[dict[str, Any], dict[str, Any]]


def channels_of(artist: Mapping[str, Any], fields: Mapping[str, str] = CHANNEL_FIELDS) -> list[str]:
    """The channels an artist can be reached on: those whose artist field is set."""
    return [channel for channel, field in fields.items() if artist.get(field)]


def alert_writes(
    hit_id: str,
    hit: Mapping[str, Any],
    artist: Mapping[str, Any],
    now: datetime,
    channels: Mapping[str, str] = CHANNEL_FIELDS,
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
        for channel in channels_of(artist, channels)
    ]
