"""The flood guard: past ``flood_threshold`` posts in an hour, one summary instead of N.

When one artwork matches many posts at once (a viral repost, a model trained on it) the
artist should get a handful of alerts and one summary, not a hundred emails. Hours are
clock hours (UTC) of the hits' ``found_at``. The rank of a hit is the number of distinct
posts that matched the same artwork earlier in its hour, itself included: the first
``flood_threshold`` go out one by one, the rest are held and sent together at the end of
the hour. Ranking by ``found_at`` rather than by dispatch time makes the split the same
however the dispatcher's passes fall.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pipelines.store.outbox import Hold
from pipelines.store.sync import Store

WINDOW = timedelta(hours=1)


def flood_hold(store: Store, hit: Mapping[str, Any], threshold: int) -> Hold | None:
    """The flood summary this hit belongs to, or None when it is within the threshold."""
    found = hit["found_at"]
    start = found.replace(minute=0, second=0, microsecond=0)
    if store.count_hit_posts(hit["artwork_id"], start, found) <= threshold:
        return None
    key = f"flood:{hit['artwork_id']}:{start:%Y-%m-%dT%H}"
    return Hold(key=key, period_start=start, release_at=start + WINDOW)
