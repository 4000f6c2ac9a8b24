"""The alert writes the crawl enqueues (applying them: tests/test_store_contract.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from pipelines.store.alerts import alert_writes

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
