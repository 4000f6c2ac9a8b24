"""Civitai: the newest public images, every one of them AI-made by the platform's nature.

``GET {base}/api/v1/images?sort=Newest&limit=100``, paged with ``metadata.nextPage`` (or
``nextCursor``); a ``nextPage`` that drops the query's own parameters (sort, limit) gets them
back, its own (the cursor) winning. The image id is the walk marker. The full file is the
``url`` with its ``width=N`` segment replaced by ``original=true``. The generation parameters
(prompt, negative prompt, model and resources such as a LoRA named after an artist) go into
``extra``: they are evidence a person can read. ``CIVITAI_API_KEY`` is optional; it only
widens what the API shows. Civitai has no tag search on this endpoint, so one walk covers the feed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import scrapy
from scrapy.http import Response

from crawler.spiders.base import Page, PlatformSpider, Post, Walk

WIDTH_SEGMENT = re.compile(r"/width=\d+/")
QUERY = "newest"
PARAMS = {"sort": "Newest", "limit": 100}


class CivitaiSpider(PlatformSpider):
    name = "civitai"
    default_base_url = "https://civitai.com"
    credential_names = ("CIVITAI_API_KEY",)

    def queries(self) -> list[str]:
        if self.tags_arg:
            self.logger.info("Civitai's image feed has no tag filter; tags %s ignored", self.tags)
        return [QUERY]

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        first = f"{walk.base_url}/api/v1/images?" + urlencode(PARAMS)
        url = _with_params(cursor) if cursor else first
        key = self.credential("CIVITAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return scrapy.Request(url, headers=headers, meta=dict(self.api_meta))

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        data = self.json(response)
        items = data["items"]
        metadata = data.get("metadata") or {}
        next_page = metadata.get("nextPage")
        if not next_page and metadata.get("nextCursor"):
            next_page = f"{walk.base_url}/api/v1/images?" + urlencode(
                {**PARAMS, "cursor": metadata["nextCursor"]}
            )
        return Page(items, next_page if items else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        meta = entry.get("meta") or {}
        is_video = entry.get("type") == "video"
        return Post(
            post_id=str(entry["id"]),
            url=f"https://civitai.com/images/{entry['id']}",
            created_at=entry.get("createdAt"),
            marker=str(entry["id"]),
            author_id=entry.get("username") or "",
            author_name=entry.get("username") or "",
            text=meta.get("prompt") or "",
            image_urls=[] if is_video else [WIDTH_SEGMENT.sub("/original=true/", entry["url"])],
            ai_evidence=["platform:civitai"],
            extra=_evidence(entry, meta),
            skip_reason="video_only" if is_video else None,
        )


def _with_params(url: str) -> str:
    """``url`` with the listing's own parameters where it lacks them (its own win)."""
    parts = urlsplit(url)
    given = dict(parse_qsl(parts.query, keep_blank_values=True))
    query = urlencode({**{k: str(v) for k, v in PARAMS.items()}, **given})
    return parts._replace(query=query).geturl()


def _evidence(entry: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    resources = meta.get("resources") or meta.get("civitaiResources") or []
    return {
        "prompt": meta.get("prompt"),
        "negative_prompt": meta.get("negativePrompt"),
        "model": meta.get("Model"),
        "base_model": entry.get("baseModel"),
        "resources": [
            {k: r.get(k) for k in ("name", "type", "weight", "hash", "modelVersionId") if k in r}
            for r in resources
        ],
        "post_id": entry.get("postId"),
        "nsfw_level": entry.get("nsfwLevel"),
    }
