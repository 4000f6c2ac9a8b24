"""The hit document the crawl and the back-scan store (storing it: tests/test_store_contract.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from pipelines.engine.index import Match
from pipelines.store.hits import hit_document

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
