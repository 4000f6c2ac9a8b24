"""Reddit: the newest posts of AI-art subreddits through the OAuth API, app-only.

The crawl first trades ``REDDIT_CLIENT_ID``/``REDDIT_CLIENT_SECRET`` for a bearer token
(client-credentials grant on ``www.reddit.com``), then walks ``/r/{sub}/new`` on
``oauth.reddit.com`` with ``after`` pagination. ``tags`` means subreddits here (default: the
``subreddits`` of config/sources.yaml). A post is labelled AI when its subreddit is AI-only,
its flair names AI or a generator, or its title carries a bracketed AI tag or an AI hashtag.
Only pictures the post itself holds count: a link post's preview is a thumbnail of someone
else's page (a news photo), so it is skipped as ``external_link`` rather than matched.
The ``x-ratelimit-*`` headers are honoured by ``crawler.middlewares.RateLimitRetryMiddleware``.
"""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk

# Subreddits where every post is AI-made by the community's own rules.
AI_SUBREDDITS = frozenset(
    {
        "aiart",
        "aiartwork",
        "aigeneratedart",
        "aiartcommunity",
        "stablediffusion",
        "sdforall",
        "midjourney",
        "dalle",
        "dalle2",
        "nijijourney",
        "novelai",
        "flux_ai",
        "comfyui",
    }
)
_AI_WORDS = r"ai|a\.i\.|ai[- ]?(?:art|generated|assisted|image)|midjourney|stable ?diffusion|"
_AI_WORDS += r"dall-?e ?\d?|flux|niji ?journey|novelai|sdxl"
AI_FLAIR = re.compile(rf"\b(?:{_AI_WORDS})\b", re.IGNORECASE)
AI_TITLE_TAG = re.compile(rf"[\[(]\s*(?:{_AI_WORDS})\s*[\])]", re.IGNORECASE)
HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
VIDEO_HINTS = ("hosted:video", "rich:video")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


class RedditSpider(PlatformSpider):
    """Walks ``/r/{sub}/new`` per subreddit; see the module docstring."""

    name = "reddit"
    default_base_url = "https://oauth.reddit.com"
    credential_names = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.token = ""

    def queries(self) -> list[str]:
        if self.tags_arg is not None:
            return self.tags_arg
        subreddits = self.platform_config.get("subreddits") or ()
        return list(dict.fromkeys(s.strip().lower() for s in subreddits if s.strip()))

    def token_url(self, base_url: str) -> str:
        """The token endpoint lives on www.reddit.com; any other host serves both."""
        parts = urlsplit(base_url)
        host = parts.netloc.replace("oauth.reddit.com", "www.reddit.com")
        return f"{parts.scheme}://{host}/api/v1/access_token"

    async def prepare(self) -> None:
        client_id = self.credential("REDDIT_CLIENT_ID")
        secret = self.credential("REDDIT_CLIENT_SECRET")
        if not (client_id and secret):
            self.count("missing_credentials")
            self.logger.error(
                "reddit needs an app-only OAuth client: set REDDIT_CLIENT_ID and "
                "REDDIT_CLIENT_SECRET (https://www.reddit.com/prefs/apps); nothing crawled"
            )
            raise CloseSpider("missing_credentials")
        self.token = await self._fetch_token(client_id, secret)

    async def _fetch_token(self, client_id: str, secret: str) -> str:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
        request = scrapy.Request(
            self.token_url(self.base_urls[0]),
            method="POST",
            body=urlencode({"grant_type": "client_credentials"}),
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            meta=dict(self.api_meta),
            dont_filter=True,
        )
        try:
            response = await self.fetch(request)
        except Exception as error:
            self.count("token_unreachable")
            self.logger.error("reddit token endpoint %s unreachable: %s", request.url, error)
            raise CloseSpider("token_unreachable") from None
        try:
            if response.status != 200:
                raise BadResponse(f"http_{response.status}")
            token = self.json(response).get("access_token")
        except (BadResponse, AttributeError):
            token = None
        if not token:
            self.count("token_refused")
            self.logger.error(
                "reddit refused the app-only token (HTTP %s from %s): check REDDIT_CLIENT_ID "
                "and REDDIT_CLIENT_SECRET; nothing crawled",
                response.status,
                response.url,
            )
            raise CloseSpider("credentials_refused")
        return token

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        query = {"limit": 100, "raw_json": 1} | ({"after": cursor} if cursor else {})
        return scrapy.Request(
            f"{walk.base_url}/r/{quote(walk.query, safe='')}/new?{urlencode(query)}",
            headers={"Authorization": f"bearer {self.token}"},
            # 403/404 here is about the subreddit (private, quarantined, banned), not our token.
            meta={**self.api_meta, "handle_httpstatus_list": [403, 404]},
        )

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        if response.status in (403, 404):
            raise BadResponse(
                f"http_{response.status}",
                f"r/{walk.query} refused ({_reason(response)}): private, quarantined, banned "
                "or missing",
            )
        listing = self.json(response)["data"]
        return Page(entries=listing["children"], next_cursor=listing.get("after"))

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post | None:
        if entry.get("kind") != "t3":
            return None
        post = entry["data"]
        subreddit = post.get("subreddit") or ""
        flair = (post.get("link_flair_text") or "").strip()
        title = post.get("title") or ""
        urls, skip_reason = media(post)
        return Post(
            post_id=post["id"],
            url=f"https://www.reddit.com{post['permalink']}",
            created_at=post.get("created_utc"),
            # Base-36 ids grow with time; as a decimal they compare as numbers.
            marker=str(int(post["id"], 36)),
            author_id=post.get("author_fullname") or "",
            author_name=post.get("author") or "",
            text="\n\n".join(part for part in (title, post.get("selftext")) if part),
            tags=[*HASHTAG.findall(title), *([flair] if flair else [])],
            image_urls=urls,
            ai_evidence=ai_evidence(subreddit, flair, title),
            extra={"subreddit": subreddit, "flair": flair, "over_18": bool(post.get("over_18"))},
            skip_reason=skip_reason,
        )


def _reason(response: Response) -> str:
    try:
        data = json.loads(response.body)
    except ValueError:
        return f"HTTP {response.status}"
    if not isinstance(data, dict):
        return f"HTTP {response.status}"
    return str(data.get("reason") or data.get("message") or f"HTTP {response.status}")


def media(post: dict[str, Any]) -> tuple[list[str], str | None]:
    """Best-resolution image URLs of a post (its crosspost parent's when it is one), or none
    and the reason: deleted, removed, video_only, external_link or no_images."""
    parents = post.get("crosspost_parent_list") or []
    removed = post.get("removed_by_category")
    if removed:
        return [], "deleted" if removed == "deleted" else "removed"
    if parents:
        return media(parents[0])
    if post.get("is_video") or post.get("post_hint") in VIDEO_HINTS:
        return [], "video_only"
    found = _gallery(post) if post.get("is_gallery") else _single(post)
    if found:
        return found, None
    return [], "external_link" if post.get("post_hint") == "link" else "no_images"


def _gallery(post: dict[str, Any]) -> list[str]:
    metadata = post.get("media_metadata") or {}
    # Fresh on /new a gallery may have "gallery_data": null while media_metadata already
    # holds its images; the metadata's own order is then the only order there is.
    items = (post.get("gallery_data") or {}).get("items") or [{"media_id": m} for m in metadata]
    urls = []
    for entry in items:
        media = metadata.get(entry.get("media_id"), {})
        # Just-uploaded items are "unprocessed" with no source yet; skip rather than guess.
        if media.get("status") != "valid":
            continue
        source = media.get("s") or {}
        url = source.get("u") or source.get("gif")
        if url:
            # Without raw_json=1 (or from a proxy that drops it) URLs come HTML-escaped.
            urls.append(html.unescape(url))
    return urls


def _single(post: dict[str, Any]) -> list[str]:
    if post.get("post_hint") != "image":
        return []  # a link's preview pictures the linked page, not this post
    url = post.get("url") or ""
    if urlsplit(url).path.lower().endswith(IMAGE_SUFFIXES):
        return [html.unescape(url)]
    previews = (post.get("preview") or {}).get("images") or []
    return [html.unescape(previews[0]["source"]["url"])] if previews else []


def ai_evidence(subreddit: str, flair: str, title: str) -> list[str]:
    """Why a post counts as AI-labelled: where it was posted and what its author tagged."""
    evidence = []
    if subreddit.lower() in AI_SUBREDDITS:
        evidence.append(f"subreddit:{subreddit.lower()}")
    if flair and AI_FLAIR.search(flair):
        evidence.append(f"flair:{flair.lower()}")
    tag = AI_TITLE_TAG.search(title)
    if tag:
        evidence.append(f"title:{tag.group(0).lower()}")
    return evidence
