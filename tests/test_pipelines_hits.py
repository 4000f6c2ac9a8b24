"""Hit documents and record_hit (sync and async) against a real nx-27017 server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bson import ObjectId
from pymongo import AsyncMongoClient

from pipelines.engine.index import Match
from pipelines.store.hits import hit_document, record_hit, record_hit_async

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _artist(store, webhook: str | None = None) -> dict:
    artist_id = store.add_artist("Ana", "ana@example.org", webhook, "s3cret" if webhook else None)
    return store.artist(artist_id)


def _post(post_id: str = "1", screenshot: bytes | None = None) -> dict:
    return {
        "_id": f"mastodon:{post_id}",
        "platform": "mastodon",
        "post_id": post_id,
        "url": f"https://example.social/@bot/{post_id}",
        "author_id": "bot@example.social",
        "author_name": "Bot",
        "created_at": datetime(2026, 4, 30, tzinfo=UTC),
        "text": "look #aiart",
        "ai_labeled": True,
        "ai_evidence": ["tag:aiart"],
        "images": [
            {"url": "https://cdn.example/other.jpg", "sha256": "b" * 64},
            {"url": f"https://cdn.example/{post_id}.jpg", "sha256": "a" * 64},
        ],
        "screenshot": screenshot,
    }


IMAGE = {"_id": "a" * 64, "url": "https://elsewhere.example/first.jpg", "thumbnail": b"\xff\xd8"}
MATCH = Match("ignored", "near", 0.9, {"pdq": 12, "pdq_straight": 30, "phash": 8})


def _hit(artist: dict, post: dict, artwork_id: ObjectId | None = None) -> dict:
    artwork = {"_id": artwork_id or ObjectId(), "artist_id": str(artist["_id"])}
    return hit_document(str(artist["_id"]), artwork, MATCH, post, IMAGE, NOW)


def test_hit_document_follows_the_contract(store):
    artist = _artist(store)
    post = _post(screenshot=b"jpeg")
    hit = _hit(artist, post)
    assert hit["image_id"] == "a" * 64
    assert hit["post_id"] == "mastodon:1"
    assert hit["image_url"] == "https://cdn.example/1.jpg"  # where this post served it
    assert hit["post_url"] == post["url"]
    assert (hit["kind"], hit["score"], hit["status"]) == ("near", 0.9, "new")
    assert hit["distances"] == {"pdq": 12, "pdq_straight": 30, "phash": 8}
    assert hit["post_created_at"] == post["created_at"] and hit["found_at"] == NOW
    assert hit["ai_labeled"] is True and hit["ai_evidence"] == ["tag:aiart"]
    assert hit["thumbnail"] == IMAGE["thumbnail"] and hit["screenshot"] == b"jpeg"
    assert hit["author_id"] == "bot@example.social" and hit["text"] == "look #aiart"


def test_record_hit_stores_once_and_enqueues_one_alert_per_channel(store):
    artist = _artist(store, webhook="https://hooks.example/artwatch")
    hit = _hit(artist, _post())
    first_id, created = record_hit(store.db, hit, artist)
    again_id, created_again = record_hit(store.db, {**hit, "score": 0.1}, artist)
    assert (created, created_again) == (True, False)
    assert first_id == again_id
    [stored] = store.db.hits.find()
    assert stored["score"] == 0.9 and stored["found_at"] == NOW
    alerts = list(store.db.alerts.find({"hit_id": first_id}))
    assert sorted(a["channel"] for a in alerts) == ["email", "webhook"]


def test_outbox_is_repaired_when_a_crash_left_a_hit_without_alerts(store):
    artist = _artist(store)
    hit = _hit(artist, _post())
    hit_id, _ = record_hit(store.db, hit, artist)
    store.db.alerts.delete_many({})  # as if the process died between the two writes
    assert record_hit(store.db, hit, artist) == (hit_id, False)
    assert store.db.alerts.count_documents({"hit_id": hit_id}) == 1


def test_a_dismissed_hit_suppresses_the_same_image_in_other_posts_for_that_artwork(store):
    artist = _artist(store)
    artwork_id = ObjectId()
    hit_id, _ = record_hit(store.db, _hit(artist, _post("1"), artwork_id), artist)
    assert store.set_hit_status(hit_id, str(artist["_id"]), "dismissed")
    assert record_hit(store.db, _hit(artist, _post("2"), artwork_id), artist) == (None, False)
    other_artwork, created = record_hit(store.db, _hit(artist, _post("2")), artist)
    assert created and other_artwork is not None
    assert store.db.hits.count_documents({}) == 2


def test_record_hit_async_writes_what_the_sync_one_writes(store, mongo_uri):
    artist = _artist(store)
    artwork_id = ObjectId()

    async def scenario():
        client = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            db = client[store.db.name]
            first = await record_hit_async(db, _hit(artist, _post("1"), artwork_id), artist)
            again = await record_hit_async(db, _hit(artist, _post("1"), artwork_id), artist)
            return first, again
        finally:
            await client.close()

    (hit_id, created), (again_id, created_again) = asyncio.run(scenario())
    assert (created, created_again) == (True, False) and hit_id == again_id
    assert record_hit(store.db, _hit(artist, _post("1"), artwork_id), artist) == (hit_id, False)
    assert store.db.alerts.count_documents({"hit_id": hit_id}) == 1
