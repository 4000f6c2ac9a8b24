"""DeviantArt: the public RSS search by tag, or the OAuth ``browse/tags`` API with credentials.

Without credentials: ``{base}/rss.xml?type=deviation&q=tag:{tag}`` (``media:content`` is the
largest image; the channel's ``atom:link rel="next"`` pages by offset). With
``DEVIANTART_CLIENT_ID`` and ``DEVIANTART_CLIENT_SECRET``: a client-credentials token from
``{base}/oauth2/token``, then ``{base}/api/v1/oauth2/browse/tags?tag={tag}`` paged by
``next_cursor``; ``content.src`` is the best image. A refused token falls back to RSS.
DeviantArt answers 403 when it rate-limits or blocks, so a 403 says so in the log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawler.spiders.base import Page, PlatformSpider, Post, Walk
from crawler.spiders.rss import feed_page, feed_post

CREDENTIALS = ("DEVIANTART_CLIENT_ID", "DEVIANTART_CLIENT_SECRET")
RSS_BASE_URL = "https://backend.deviantart.com"
API_BASE_URL = "https://www.deviantart.com"


class DeviantartSpider(PlatformSpider):
    name = "deviantart"
    default_base_url = RSS_BASE_URL

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.access_token: str | None = None
        # Only the API path uses credentials; a 403 on RSS is a block, not a missing key.
        self.credential_names = ()

    @property
    def base_urls(self) -> list[str]:
        urls = super().base_urls
        if self.access_token and urls == [RSS_BASE_URL]:
            return [API_BASE_URL]
        return urls

    async def prepare(self) -> None:
        client_id, secret = (self.credential(name) for name in CREDENTIALS)
        if not (client_id and secret):
            return
        self.credential_names = CREDENTIALS  # named in the log if the token is refused
        body = urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        self.access_token = await self.fetch_token(
            f"{self.base_url_arg or API_BASE_URL}/oauth2/token",
            body,
            "application/x-www-form-urlencoded",
            "access_token",
            kind="token_response",
            fallback="; using the RSS feed instead",
        )
        if not self.access_token:
            self.credential_names = ()

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        if self.access_token:
            params = {"tag": walk.query, "limit": 50, "mature_content": "false"}
            if cursor:
                params["cursor"] = cursor
            url = f"{walk.base_url}/api/v1/oauth2/browse/tags?{urlencode(params)}"
            headers = {"Authorization": f"Bearer {self.access_token}"}
            return scrapy.Request(url, headers=headers, meta=dict(self.api_meta))
        if cursor:
            return scrapy.Request(cursor, meta=dict(self.api_meta))
        query = urlencode({"type": "deviation", "q": f"tag:{walk.query}"})
        return scrapy.Request(f"{walk.base_url}/rss.xml?{query}", meta=dict(self.api_meta))

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        if not self.access_token:
            return feed_page(response)
        data = self.json(response)
        results = data["results"]
        more = data.get("has_more") and data.get("next_cursor")
        return Page(results, data["next_cursor"] if more and results else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        if not self.access_token:
            post = feed_post(entry, response)
            post.post_id = _deviation_id(post.url) or post.post_id
            return post
        content = entry.get("content") or {}
        author = entry.get("author") or {}
        return Post(
            post_id=_deviation_id(entry["url"]) or entry["deviationid"],
            url=entry["url"],
            created_at=int(entry["published_time"]) if entry.get("published_time") else None,
            marker=str(entry.get("published_time") or ""),
            author_id=author.get("userid") or author.get("username", ""),
            author_name=author.get("username", ""),
            text=entry.get("title") or "",
            tags=[tag.get("tag_name", "") for tag in entry.get("tags") or ()],
            image_urls=[content["src"]] if content.get("src") else [],
            extra={"is_mature": entry.get("is_mature")},
        )


def _deviation_id(url: str) -> str | None:
    """The numeric id that ends a deviation URL, the same whichever path found the post."""
    tail = url.rstrip("/").rsplit("-", 1)[-1]
    return tail if tail.isdigit() else None
