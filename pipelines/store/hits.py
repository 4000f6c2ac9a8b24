"""Hits: the evidence that an enrolled artwork appeared in a crawled post, stored once.

``hit_document`` builds a hit exactly as the contract between the crawl and the alerts
(DESIGN.md, issue 5) from the stored post, the stored image, the artwork and a
``pipelines.engine.index.Match``; the crawl pipeline and the back-scan both use it, so a hit looks
the same whichever found it. The store's ``record_hit`` applies ``hit_write``: a
``$setOnInsert``-only upsert keyed by (artwork, image, post), so the first evidence is kept and
a repeat changes nothing, then the alert writes (``pipelines.store.alerts``) on every call, new
hit or not, which repairs a crash between the two. A hit with status ``dismissed`` for the
same artwork and image (``suppression_filter``) suppresses the new hit: the artist said that
picture is not theirs (or not worth an alert), and another repost of the same bytes must not
ask again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipelines.store.writes import Write

HIT_KEY = ("artwork_id", "image_id", "post_id")


def hit_document(
    artist_id: str,
    artwork: Mapping[str, Any],
    match: Any,
    post: Mapping[str, Any],
    image: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The hit of ``match`` (artwork found in ``image`` of ``post``), status ``new``."""
    sha256 = image["_id"]
    return {
        "artist_id": str(artist_id),
        "artwork_id": str(artwork["_id"]),
        "image_id": sha256,
        "post_id": post["_id"],
        "kind": match.kind,
        "score": float(match.score),
        "distances": {name: _number(value) for name, value in match.distances.items()},
        "region": getattr(match, "region", None),  # where a partial match sits, for the outline
        "platform": post["platform"],
        "post_url": post.get("url"),
        "image_url": _image_url(post, image),
        "author_id": post.get("author_id"),
        "author_name": post.get("author_name"),
        "post_created_at": post.get("created_at"),
        "found_at": now,
        "ai_labeled": bool(post.get("ai_labeled")),
        "ai_evidence": list(post.get("ai_evidence") or []),
        "text": post.get("text") or "",
        "thumbnail": image.get("thumbnail"),
        "screenshot": post.get("screenshot"),
        "status": "new",
    }


def _number(value: Any) -> int | float:
    # Distances come from numpy; BSON cannot encode numpy scalars.
    number = float(value)
    return int(number) if number.is_integer() else number


def _image_url(post: Mapping[str, Any], image: Mapping[str, Any]) -> str | None:
    """The URL this post served the bytes at; the same file may sit at another URL elsewhere."""
    for entry in post.get("images") or ():
        if entry.get("sha256") == image["_id"]:
            return entry.get("url")
    return image.get("url")


def hit_write(hit: Mapping[str, Any]) -> Write:
    """Upsert by (artwork, image, post) with ``$setOnInsert`` only: the first evidence stays."""
    key = {name: hit[name] for name in HIT_KEY}
    fields = {name: value for name, value in hit.items() if name not in HIT_KEY}
    return key, {"$setOnInsert": fields}


def suppression_filter(hit: Mapping[str, Any]) -> dict[str, Any]:
    """Matches a dismissed hit of the same artwork and image, in any post."""
    return {"artwork_id": hit["artwork_id"], "image_id": hit["image_id"], "status": "dismissed"}
