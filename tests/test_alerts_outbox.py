"""The outbox contract the crawl pipeline relies on, against the real nx-27017 server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bson import ObjectId
from pymongo import AsyncMongoClient

from pipelines.store.alerts import alert_writes, enqueue_alerts, enqueue_alerts_async

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HIT = {"artwork_id": "a1", "kind": "near"}


def _artist(**fields) -> dict:
    return {"_id": ObjectId(), "email": None, "webhook_url": None, **fields}


def test_one_setoninsert_upsert_per_channel_the_artist_has():
    both = _artist(email="ana@example.org", webhook_url="https://hooks.example/x")
    writes = alert_writes("h1", HIT, both, NOW)
    assert [key for key, _ in writes] == [
        {"hit_id": "h1", "channel": "email"},
        {"hit_id": "h1", "channel": "webhook"},
    ]
    for _, update in writes:
        assert list(update) == ["$setOnInsert"]
        fields = update["$setOnInsert"]
        assert fields["status"] == "pending" and fields["next_attempt_at"] == NOW
        assert fields["artist_id"] == str(both["_id"]) and fields["artwork_id"] == "a1"
    assert [k["channel"] for k, _ in alert_writes("h1", HIT, _artist(email="a@b.c"), NOW)] == [
        "email"
    ]
    assert alert_writes("h1", HIT, _artist(), NOW) == []


def test_enqueue_twice_is_one_alert_per_channel_and_never_resets(store):
    artist = _artist(email="ana@example.org", webhook_url="https://hooks.example/x")
    enqueue_alerts(store.db, "h1", HIT, artist)
    store.db.alerts.update_one(
        {"hit_id": "h1", "channel": "email"}, {"$set": {"status": "sent", "attempts": 1}}
    )
    enqueue_alerts(store.db, "h1", HIT, artist)  # the re-crawl after a crash

    alerts = {a["channel"]: a for a in store.db.alerts.find({"hit_id": "h1"})}
    assert sorted(alerts) == ["email", "webhook"]
    assert alerts["email"]["status"] == "sent" and alerts["email"]["attempts"] == 1
    assert alerts["webhook"]["status"] == "pending"
    assert store.db.alerts.count_documents({}) == 2


def test_async_enqueue_writes_the_same_documents(store, mongo_uri, db_name):
    artist = _artist(webhook_url="https://hooks.example/x")

    async def enqueue_twice() -> None:
        client = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            for _ in range(2):
                await enqueue_alerts_async(client[db_name], "h2", HIT, artist)
        finally:
            await client.close()

    asyncio.run(enqueue_twice())
    alerts = list(store.db.alerts.find({"hit_id": "h2"}))
    assert [(a["channel"], a["status"], a["type"]) for a in alerts] == [
        ("webhook", "pending", "hit")
    ]
    assert alerts[0]["next_attempt_at"].tzinfo is not None
