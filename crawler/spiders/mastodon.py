"""Mastodon (and its forks): anonymous hashtag timelines, paged through the ``Link`` header.

``GET {base}/api/v1/timelines/tag/{tag}?limit=40&only_media=true``, newest first; the next
page is the ``rel="next"`` URL (``max_id``). Status ids are snowflakes and serve as the
cursor. Boosts carry the real post in ``reblog``; images are ``media_attachments`` of type
``image``, at ``remote_url`` (the origin file) when set, else ``url``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import scrapy
from scrapy.http import Response
from w3lib.html import remove_tags, replace_entities

from crawler.spiders.base import Page, PlatformSpider, Post, Walk


class MastodonSpider(PlatformSpider):
    name = "mastodon"
    default_base_url = "https://mastodon.social"
    ids_per_instance = True  # status ids are each server's own: post keys include the instance

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        url = cursor or (
            f"{walk.base_url}/api/v1/timelines/tag/{quote(walk.query)}?limit=40&only_media=true"
        )
        return scrapy.Request(url, meta=dict(self.api_meta))

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        statuses = self.json(response)
        if not isinstance(statuses, list):
            raise TypeError(f"expected a list of statuses, got {type(statuses).__name__}")
        return Page(statuses, _next_link(response))

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        status = entry.get("reblog") or entry
        media = status.get("media_attachments") or []
        images = [m.get("remote_url") or m["url"] for m in media if m.get("type") == "image"]
        account = status["account"]
        return Post(
            post_id=status["id"],
            url=status.get("url") or status["uri"],
            created_at=status["created_at"],
            marker=str(entry["id"]),
            author_id=account.get("acct") or account["id"],
            author_name=account.get("display_name") or account.get("username", ""),
            text=_text(status),
            tags=[tag["name"] for tag in status.get("tags") or ()],
            image_urls=images,
            extra={"sensitive": bool(status.get("sensitive"))},
            skip_reason="video_only" if _has_video(media) and not images else None,
        )


def _has_video(media: list[dict[str, Any]]) -> bool:
    return any(m.get("type") in ("video", "gifv") for m in media)


def _text(status: dict[str, Any]) -> str:
    html = status.get("content") or ""
    spoiler = status.get("spoiler_text") or ""
    text = replace_entities(remove_tags(html.replace("</p>", "</p>\n").replace("<br", "\n<br")))
    return f"{spoiler}\n{text}".strip() if spoiler else text


def _next_link(response: Response) -> str | None:
    for header in response.headers.getlist("Link"):
        for part in header.decode("latin-1").split(","):
            url, _, params = part.partition(";")
            if 'rel="next"' in params.replace(" ", ""):
                return url.strip().strip("<>")
    return None
