"""The crawl's MongoDB writes as pure ``(filter, update)`` pairs, one definition each.

The sync ``pipelines.store.sync.Store`` (CLI, back-scan, tests) and the async crawl pipelines
(``pipelines.store.aio``) apply the very same pairs, so a post or an image written by either
side looks the same and every write stays an idempotent upsert keyed by the record's natural
identity. Hits have their pair in ``pipelines.store.hits`` beside the hit contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

Write = tuple[dict[str, Any], dict[str, Any]]


def post_key(platform: str, post_id: str) -> str:
    return f"{platform}:{post_id}"


def post_write(post: Mapping[str, Any], now: datetime) -> Write:
    """Upsert a post by ``platform:post_id``; later crawls refresh its fields."""
    fields = {k: v for k, v in post.items() if k != "_id"}
    key = post.get("_id") or post_key(post["platform"], post["post_id"])
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
