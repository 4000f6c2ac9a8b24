"""The crawl's MongoDB writes as pure ``(filter, update)`` pairs, one definition each, and the
two helpers every store module shares (``utcnow``, ``object_id``).

The operations of ``pipelines.store.operations`` apply these pairs for both the sync and the
async store, so every write stays an idempotent upsert keyed by the record's natural
identity. Hits have their pair in ``pipelines.store.hits`` beside the hit contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from pipelines.errors import ArtWatchError

Write = tuple[dict[str, Any], dict[str, Any]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def object_id(value: str, what: str) -> ObjectId:
    """``value`` as an ObjectId; ArtWatchError naming ``what`` when it cannot be one."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise ArtWatchError(f"{what} {value!r} is not a valid id") from None


def post_key(platform: str, host: str, post_id: str) -> str:
    """``platform:host:post_id``: ids are unique per instance, not per platform (DESIGN.md)."""
    return f"{platform}:{host}:{post_id}"


def legacy_post_key(platform: str, post_id: str) -> str:
    """The key releases before per-instance keys gave a post: ``platform:post_id``."""
    return f"{platform}:{post_id}"


def post_write(post: Mapping[str, Any], now: datetime) -> Write:
    """Upsert a post by its key (``post_key``); later crawls refresh its fields."""
    fields = {k: v for k, v in post.items() if k != "_id"}
    key = post.get("_id") or post_key(post["platform"], post.get("instance", ""), post["post_id"])
    return {"_id": key}, {"$set": fields, "$setOnInsert": {"first_seen_at": now}}


def processed_write(post_key_: str, now: datetime) -> Write:
    """Mark a post done: every image and hit of it is stored (see pipelines.stages.posts)."""
    return {"_id": post_key_}, {"$set": {"processed_at": now}}


def image_write(sha256: str, fields: Mapping[str, Any], now: datetime) -> Write:
    """Insert an image once by the sha256 of its bytes; a second sighting changes nothing."""
    return {"_id": sha256}, {"$setOnInsert": {**fields, "first_seen_at": now}}


def cursor_write(spider: str, key: str, value: str, now: datetime) -> Write:
    return (
        {"_id": f"{spider}:{key}"},
        {"$set": {"spider": spider, "key": key, "value": value, "updated_at": now}},
    )
