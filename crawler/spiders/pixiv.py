"""Pixiv: tag searches through the web app's ajax API, one detail call per work.

``GET {base}/ajax/search/illustrations/{word}?word=...&order=date_d&mode=all&p=N`` lists 60
works a page, newest first; its thumbnails are 250 px squares, so every work is completed
from ``/ajax/illust/{id}`` (``urls.original``, the authoritative ``aiType``; ``aiType == 2``
is pixiv's own AI-generated flag). Pages after the first of a multi-page work are derived
from page 0's original URL. Pixiv answers errors as ``{"error": true, "message": ...}``;
a deleted or private work is skipped, anything else fails the walk. Tags are case-sensitive
words on pixiv (``AIイラスト``): they are sent as written and lower-cased only where stored
(the item's ``query``, the cursor key). The ajax API is the
site's own, not one published for programs, so robots.txt is obeyed here.
"""

from __future__ import annotations

import re
from logging import INFO
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import scrapy
from scrapy.http import Response
from w3lib.html import remove_tags, replace_entities

from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk

# i.pximg.net refuses requests without a pixiv Referer: items carry these headers in
# extra["image_headers"] for the images stage to send with its image requests.
IMAGE_HEADERS = {"Referer": "https://www.pixiv.net/"}
PAGE_SIZE = 60
AI_TYPE_GENERATED = 2
# Pixiv-only AI tags, beyond the shared AI_TAGS of the base.
PIXIV_AI_TAGS = frozenset({"ai生成", "ai生成イラスト", "ai画像", "novelaidiffusion", "aiart"})
ILLUST_TYPES = {0: "illust", 1: "manga", 2: "ugoira"}
# 4xx answers carry pixiv's error envelope; read it instead of dropping the response.
ERROR_STATUSES = [400, 403, 404]
_PAGE0 = re.compile(r"_p0(?=\.\w+$)")


class PixivSpider(PlatformSpider):
    """Walks the ajax tag search; see the module docstring."""

    name = "pixiv"
    default_base_url = "https://www.pixiv.net"

    def __init__(self, *args: Any, tags: str | None = None, **kwargs: Any):
        super().__init__(*args, tags=tags, **kwargs)
        self.tags_as_written = tags

    def as_written(self, query: str) -> str:
        """The tag as the user or config wrote it, for the request; ``query`` is lower-cased."""
        written = self.tags_as_written
        given = written.split(",") if written is not None else self.platform_config.get("tags")
        for tag in given or ():
            tag = tag.strip().lstrip("#")
            if tag.lower() == query:
                return tag
        return query

    def _ajax(self, url: str, walk: Walk) -> scrapy.Request:
        return scrapy.Request(
            url,
            headers={"Referer": f"{walk.base_url}/", "Accept": "application/json"},
            meta={"handle_httpstatus_list": ERROR_STATUSES},
        )

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        word = self.as_written(walk.query)
        query = {"word": word, "order": "date_d", "mode": "all", "p": cursor or "1"}
        path = f"/ajax/search/illustrations/{quote(word, safe='')}"
        return self._ajax(f"{walk.base_url}{path}?{urlencode(query)}", walk)

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        body = self.envelope(response)
        # /illustrations answers under "illust"; /artworks (the recorded shape) under "illustManga".
        section = body.get("illust") or body.get("illustManga") or {}
        entries = [e for e in section.get("data") or () if isinstance(e, dict) and e.get("id")]
        page = int(parse_qs(urlsplit(response.url).query).get("p", ["1"])[0])
        last = int(section.get("lastPage") or -(-int(section.get("total") or 0) // PAGE_SIZE))
        more = entries and page < last
        return Page(entries, str(page + 1) if more else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        illust_id = str(entry["id"])
        return Post(
            post_id=illust_id,
            url=f"https://www.pixiv.net/artworks/{illust_id}",
            created_at=entry.get("createDate"),
            marker=illust_id,
            author_id=str(entry.get("userId") or ""),
            author_name=entry.get("userName") or "",
            text=entry.get("title") or "",
            tags=entry.get("tags") or [],
            detail=self._ajax(f"{walk.base_url}/ajax/illust/{illust_id}", walk),
        )

    def parse_post(self, response: Response, post: Post) -> Post | None:
        if response.status in ERROR_STATUSES:
            # Deleted, private or login-only: final for this work, not a failed walk.
            message = self.error_message(response)
            self.report(
                "work_unavailable", response.url, f"work {post.post_id} skipped: {message}", INFO
            )
            return None
        work = self.envelope(response)
        tags = [t["tag"] for t in (work.get("tags") or {}).get("tags") or ()] or list(post.tags)
        ai_type = work.get("aiType")
        post.created_at = work.get("createDate") or post.created_at
        post.author_id = str(work.get("userId") or post.author_id)
        post.author_name = work.get("userName") or post.author_name
        post.text = _text(work.get("title") or post.text, work.get("description") or "")
        post.tags = tags
        post.image_urls = _originals(work)
        # R-18 works shown to a visitor without a login come with every URL null.
        post.skip_reason = "age_gated" if work.get("xRestrict") and not post.image_urls else None
        post.ai_evidence = _evidence(ai_type, tags)
        post.extra = {
            "image_headers": dict(IMAGE_HEADERS),
            "ai_type": ai_type,
            "x_restrict": work.get("xRestrict"),
            "illust_type": ILLUST_TYPES.get(work.get("illustType"), work.get("illustType")),
            "page_count": work.get("pageCount"),
        }
        return post

    def envelope(self, response: Response) -> dict[str, Any]:
        """The ``body`` of pixiv's envelope, or BadResponse carrying pixiv's message."""
        data = self.json(response)
        if not isinstance(data, dict) or "body" not in data:
            raise BadResponse("unexpected_shape", "no pixiv envelope")
        if data.get("error") or response.status in ERROR_STATUSES:
            raise BadResponse("error_envelope", f"pixiv says: {data.get('message') or '?'}")
        return data["body"]

    def error_message(self, response: Response) -> str:
        """Pixiv's message from an error envelope; BadResponse when the body is not one."""
        data = self.json(response)
        if not (isinstance(data, dict) and data.get("error")):
            raise BadResponse(f"http_{response.status}", "not a pixiv error envelope")
        return f"HTTP {response.status}, pixiv says: {data.get('message') or '?'}"


def _originals(work: dict[str, Any]) -> list[str]:
    first = (work.get("urls") or {}).get("original")
    if not first:
        return []
    count = int(work.get("pageCount") or 1)
    return [first] + [_PAGE0.sub(f"_p{n}", first) for n in range(1, count)]


def _evidence(ai_type: Any, tags: list[str]) -> list[str]:
    evidence = [f"label:aiType={ai_type}"] if ai_type == AI_TYPE_GENERATED else []
    return evidence + [f"tag:{t.lower()}" for t in tags if t.lower() in PIXIV_AI_TAGS]


def _text(title: str, description_html: str) -> str:
    description = replace_entities(remove_tags(re.sub(r"<br\s*/?>", "\n", description_html)))
    return f"{title}\n\n{description}".strip()
