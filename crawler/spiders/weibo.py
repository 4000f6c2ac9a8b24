"""Weibo: the newest posts for a keyword or topic through the mobile web's container API.

``GET {base}/api/container/getIndex?containerid=100103type=61&q={tag}&page_type=searchall
&page=N`` is the realtime (newest first) search of m.weibo.cn; its cards hold posts
(``card_type`` 9, also grouped in ``card_group``), and ``cardlistInfo.page`` names the next
page. A repost stands for the post it reposts, whose pictures are taken at their largest
(``pics[].large.url``). ``ai_evidence`` comes from the words AI绘画 / AI生成 / AIGC (and the
shared AI tags) in the text and its ``#topics#``: no public client code documents a platform
AI label on these posts. ``WEIBO_COOKIE`` (a logged-in browser's cookie header) is sent when
set; a login wall (``ok: -100``) or the rate limit Weibo answers with (HTTP 418) ends the
crawl with ``finish_reason`` ``weibo_login_wall`` / ``weibo_rate_limited``. Polite by
default (one request every 5 s), and robots.txt is obeyed: this is the site's own API.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from w3lib.html import remove_tags, replace_entities

from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk

# Words with which Weibo users mark generated pictures, beyond the shared AI tags.
AI_WORDS = ("ai绘画", "ai生成", "aigc", "ai作画", "ai插画")
TOPIC = re.compile(r"#([^#\s][^#]{0,60})#")
POST_CARD = 9
LOGIN_WALL = -100
RATE_LIMITED = 418


class WeiboSpider(PlatformSpider):
    """Walks the realtime search per keyword; see the module docstring."""

    name = "weibo"
    default_base_url = "https://m.weibo.cn"
    credential_names = ("WEIBO_COOKIE",)
    custom_settings = {"DOWNLOAD_DELAY": 5.0, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        query = {
            "containerid": f"100103type=61&q={walk.query}",
            "page_type": "searchall",
            "page": cursor or "1",
        }
        headers = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
        cookie = self.credential("WEIBO_COOKIE")
        if cookie:
            headers["Cookie"] = cookie
        return scrapy.Request(
            f"{walk.base_url}/api/container/getIndex?{urlencode(query)}",
            headers=headers,
            # The session goes as given, to this API only; no cookie jar merges into it.
            meta={"handle_httpstatus_list": [RATE_LIMITED], "dont_merge_cookies": True},
        )

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        if response.status == RATE_LIMITED:
            self.count("rate_limited")
            self.logger.error("weibo answers 418 (rate limited): slow down before the next run")
            raise CloseSpider("weibo_rate_limited")
        data = self.json(response)
        if data.get("ok") == LOGIN_WALL:
            self.count("login_wall")
            self.logger.error("weibo wants a login: set WEIBO_COOKIE from a logged-in browser")
            raise CloseSpider("weibo_login_wall")
        if data.get("ok") != 1:
            # "ok": 0 with a message ("这里还没有内容") is how the search says it has no more.
            if "data" in data or "msg" in data:
                return Page([])
            raise BadResponse("unexpected_shape", "no ok/data in the answer")
        body = data["data"]
        cards = [card for card in _flatten(body["cards"]) if card.get("mblog")]
        page = (body.get("cardlistInfo") or {}).get("page")
        return Page([card["mblog"] for card in cards], str(page) if cards and page else None)

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post:
        status = entry.get("retweeted_status") or entry
        user = status.get("user") or {}
        text = _text(status.get("text") or "")
        pictures = [(pic.get("large") or pic)["url"] for pic in status.get("pics") or ()]
        video = (status.get("page_info") or {}).get("type") == "video"
        if status.get("deleted") == "1" or not user:
            skip = "deleted"  # a repost of a deleted post keeps only a notice
        else:
            skip = "video_only" if video else None
        return Post(
            post_id=str(status["id"]),
            url=f"https://m.weibo.cn/detail/{status['id']}",
            created_at=_date(status.get("created_at")),
            marker=str(entry["id"]),
            author_id=str(user.get("id") or ""),
            author_name=user.get("screen_name") or "",
            text=text,
            tags=TOPIC.findall(text),
            image_urls=[] if skip == "deleted" else pictures,
            ai_evidence=[f"text:{word}" for word in AI_WORDS if word in text.lower()],
            extra={"bid": status.get("bid"), "reposted_by": _reposter(entry, status)},
            skip_reason=skip,
        )


def _flatten(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for card in cards:
        if card.get("card_type") == POST_CARD:
            found.append(card)
        found.extend(_flatten(card.get("card_group") or []))
    return found


def _text(html: str) -> str:
    return replace_entities(remove_tags(re.sub(r"<br\s*/?>", "\n", html))).strip()


def _date(value: str | None) -> datetime | None:
    # "Sat Nov 28 10:00:00 +0800 2026"; older answers give relative times ("5分钟前"): None.
    try:
        return datetime.strptime(value or "", "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def _reposter(entry: dict[str, Any], status: dict[str, Any]) -> str | None:
    if entry is status:
        return None
    return str((entry.get("user") or {}).get("id") or "") or None
