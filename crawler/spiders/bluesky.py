"""Bluesky: hashtag search with an app-password session, or public custom feeds without one.

With ``BLUESKY_HANDLE`` and ``BLUESKY_APP_PASSWORD`` the spider opens a session
(``com.atproto.server.createSession``) and walks ``app.bsky.feed.searchPosts?q=%23{tag}
&sort=latest`` per tag; without them it walks ``app.bsky.feed.getFeed`` for each feed URI of
the ``feeds`` argument or config, which needs no account: a feed generator's URI
(``getFeed``), a list's (``getListFeed``) or a bare ``at://<did or handle>`` (the author's own
feed, ``getAuthorFeed``). All page with the body's ``cursor``. The server's ``indexedAt`` is the
walk marker, because ``record.createdAt`` is whatever the client claimed. Only search is
newest first: feeds are ranked or carry reposts of old posts, so their walks are not
chronological (see ``PlatformSpider.chronological``). Images are ``embed.images[].fullsize``,
also inside ``recordWithMedia``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from crawler.spiders.base import Page, PlatformSpider, Post, Walk

CREDENTIALS = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD")
# Labels some labelers put on generated images; a label is the platform's word, not ours.
AI_LABELS = frozenset({"ai", "ai-generated", "ai-art", "ai-imagery", "aigenerated"})
FEED_PREFIX = "at://"
PUBLIC_APPVIEW = "https://public.api.bsky.app"


class BlueskySpider(PlatformSpider):
    name = "bluesky"
    default_base_url = "https://bsky.social"
    credential_names = CREDENTIALS

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.access_jwt: str | None = None

    @property
    def base_urls(self) -> list[str]:
        urls = super().base_urls
        # Without a session the PDS refuses app.bsky.* calls; the public AppView answers.
        if not self.access_jwt and urls == [self.default_base_url]:
            return [PUBLIC_APPVIEW]
        return urls

    def queries(self) -> list[str]:
        # A session searches tags and may read feeds too; without one only feeds answer.
        return [*self.tags, *self.feeds] if self.access_jwt else self.feeds

    async def prepare(self) -> None:
        handle, password = (self.credential(name) for name in CREDENTIALS)
        if handle and password:
            await self._login(handle, password)
        if self.access_jwt or self.feeds:
            return
        if handle and password:
            self.logger.warning("no session (the login failed, see above) and no public feeds")
            return
        self.count("bad_response/missing_credentials")
        self.logger.warning(
            "searchPosts needs a session: set %s, or give public feed URIs (feeds)",
            " and ".join(CREDENTIALS),
        )

    async def _login(self, handle: str, password: str) -> None:
        # The account's PDS (or entryway), not the public AppView that base_urls falls back to.
        url = f"{PlatformSpider.base_urls.fget(self)[0]}/xrpc/com.atproto.server.createSession"
        body = json.dumps({"identifier": handle, "password": password})
        self.access_jwt = await self.fetch_token(
            url, body, "application/json", "accessJwt", kind="login_response"
        )

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        if walk.query.startswith(FEED_PREFIX):
            method, params = _feed_call(walk.query)
        else:
            method = "app.bsky.feed.searchPosts"
            params = {"q": f"#{walk.query}", "sort": "latest", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        headers = {"Authorization": f"Bearer {self.access_jwt}"} if self.access_jwt else {}
        url = f"{walk.base_url}/xrpc/{method}?{urlencode(params)}"
        return scrapy.Request(url, headers=headers, meta=dict(self.api_meta))

    def chronological(self, walk: Walk) -> bool:
        return not walk.query.startswith(FEED_PREFIX)

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        data = self.json(response)
        # getFeed wraps each post view in a feed entry; searchPosts lists the views directly.
        posts = [entry["post"] for entry in data["feed"]] if "feed" in data else data["posts"]
        return Page(posts, data.get("cursor") if posts else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        record = entry["record"]
        author = entry["author"]
        images, has_video = _media(entry.get("embed") or {})
        labels = [label.get("val", "") for label in entry.get("labels") or ()]
        return Post(
            post_id=entry["uri"],
            url=_web_url(entry["uri"], author.get("handle") or author["did"]),
            created_at=record.get("createdAt") or entry["indexedAt"],
            marker=entry["indexedAt"],
            author_id=author["did"],
            author_name=author.get("displayName") or author.get("handle", ""),
            text=record.get("text", ""),
            tags=_tags(record),
            image_urls=images,
            ai_evidence=[f"label:{value}" for value in labels if value.lower() in AI_LABELS],
            extra={"cid": entry.get("cid"), "labels": labels},
            skip_reason="video_only" if has_video and not images else None,
        )


def _feed_call(uri: str) -> tuple[str, dict[str, Any]]:
    """The XRPC method and parameters that read the feed ``uri`` names."""
    collection = uri.removeprefix(FEED_PREFIX).partition("/")[2]
    if not collection:
        return "app.bsky.feed.getAuthorFeed", {"actor": uri.removeprefix(FEED_PREFIX), "limit": 100}
    if collection.startswith("app.bsky.graph.list/"):
        return "app.bsky.feed.getListFeed", {"list": uri, "limit": 100}
    return "app.bsky.feed.getFeed", {"feed": uri, "limit": 100}


def _media(embed: dict[str, Any]) -> tuple[list[str], bool]:
    """Full-size image URLs of a hydrated embed view, and whether it holds a video."""
    kind = embed.get("$type", "")
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        return _media(embed.get("media") or {})
    if kind.startswith("app.bsky.embed.images"):
        return [image["fullsize"] for image in embed.get("images") or ()], False
    return [], kind.startswith("app.bsky.embed.video")


def _tags(record: dict[str, Any]) -> list[str]:
    facet_tags = [
        feature["tag"]
        for facet in record.get("facets") or ()
        for feature in facet.get("features") or ()
        if feature.get("$type") == "app.bsky.richtext.facet#tag"
    ]
    return facet_tags + list(record.get("tags") or ())


def _web_url(uri: str, handle: str) -> str:
    rkey = uri.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{handle}/post/{rkey}"
