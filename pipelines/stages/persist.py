"""Stage 4 of the item pipeline: store the post's images, the post, its hits, then mark it done.

The order is what makes a killed crawl safe: new images first (keyed by sha256, with their
fingerprint so a later enrollment can back-scan them, and a thumbnail), then the post (with
``images: [{url, sha256}]`` and the images given up, with why), then each hit through
the store's ``record_hit`` (hit upsert plus its alerts), and only then
``processed_at`` on the post (a post without hits gets it in its own upsert). Everything is
an idempotent upsert, so a post redone after a crash ends with the same documents, once
each. A post with an image that failed for a reason a later crawl may not meet (network
error, 5xx, 429) is stored but not marked done.
What leaves this stage is a small summary dict, so exporters and logs never carry bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.errors import ConnectionFailure

from pipelines.stages.images import transient_failures
from pipelines.stages.items import CrawledImage, CrawledPost
from pipelines.stages.posts import StoreStage, stop_for_store
from pipelines.store.hits import hit_document


class PersistStage(StoreStage):
    """Write a ``CrawledPost`` and its hits; return a summary of what was stored."""

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, CrawledPost):
            return item
        try:
            return await self._store(item, datetime.now(UTC))
        except ConnectionFailure as error:
            raise stop_for_store(self.crawler, self.store, error) from error

    async def _store(self, item: CrawledPost, now: datetime) -> dict[str, Any]:
        post = item.post
        kept = [image for image in item.images if image.fingerprint is not None]
        post["images"] = [{"url": image.url, "sha256": image.sha256} for image in kept]
        post["dropped_images"] = [
            {"url": image.url, "reason": image.drop} for image in item.images if image.drop
        ]
        for image in kept:
            await self._store_image(image)
        complete = not transient_failures(item)
        matched = any(image.matches for image in kept)
        if complete and not matched:
            post["processed_at"] = now  # nothing else to write: one write instead of two
        await self.store.upsert_post(post)
        hits, new_hits = [], 0
        for image in kept:
            document = {**(image.stored or {}), **(image.fields or {}), "_id": image.sha256}
            for found in image.matches:
                artist_id = found.artwork["artist_id"]
                hit = hit_document(artist_id, found.artwork, found.match, post, document, now)
                hit_id, created = await self.store.record_hit(hit, found.artist)
                self.stats.inc_value(f"artwatch/hits/{_outcome(hit_id, created)}")
                if hit_id is not None:
                    hits.append(hit_id)
                    new_hits += created
        if not complete:
            self.stats.inc_value("artwatch/posts/incomplete")
        elif matched:
            await self.store.mark_processed(post["_id"])
        self.stats.inc_value("artwatch/posts/stored")
        return {
            "post_id": post["_id"],
            "cursor_key": item.cursor_key,
            "images": [image.sha256 for image in kept],
            "dropped_images": post["dropped_images"],
            "hits": hits,
            "new_hits": new_hits,
            "processed": complete,
        }

    async def _store_image(self, image: CrawledImage) -> None:
        if image.fields is None:
            return
        if image.stored is None:
            await self.store.insert_image(image.sha256, image.fields)
            self.stats.inc_value("artwatch/images/stored")
        else:
            await self.store.refresh_fingerprint(image.sha256, image.fields["fingerprint"])
            self.stats.inc_value("artwatch/images/refingerprinted")


def _outcome(hit_id: str | None, created: bool) -> str:
    if hit_id is None:
        return "suppressed"
    return "new" if created else "existing"
