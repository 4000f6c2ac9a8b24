"""Xiaohongshu (RED): search results and note pages rendered in a logged-in Chromium.

Nothing on xiaohongshu.com works without a logged-in session and signed API calls, so this
spider drives Debian's Chromium through scrapy-playwright with the cookies of a Playwright
storage-state file the user exports from their own browser (``XHS_STORAGE_STATE``). One walk
renders ``{base}/search_result?keyword=...`` and scrolls it ``max_pages - 1`` times for more
cards; each card's note page is then rendered and screenshotted (the PNG is the evidence). A
login wall or captcha stops the whole crawl at once: retrying a captcha only deepens the block.
The markup it relies on is described beside the code that reads it; no recording of the real
site exists, and the pages in tests/fixtures/xiaohongshu/ imitate it and say so.
"""

from __future__ import annotations

import json
import re
import time
from logging import INFO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import scrapy
from parsel import Selector
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from crawler.browser import playwright_settings, render_meta, rendered
from crawler.spiders.base import BadResponse, Page, PlatformSpider, Post, Walk

# A search card is a ``section.note-item`` with an ``a.cover`` (or ``a[href*="/explore/"]``)
# link ``/search_result/<note_id>?xsec_token=...``, ``.footer .title`` and ``.author .name``.
NOTE_CARD = "section.note-item"
# Walls: HTTP 461/471, a redirect to ``/website-login/captcha``, or these elements.
LOGIN_MARKERS = ".login-container, .login-modal"
CAPTCHA_MARKERS = ".red-captcha, #red-captcha"
WALL_STATUSES = (461, 471)
# Besides content, a page is "ready" when it shows a wall or is a bare JSON/text answer.
WALL_READY = f"{LOGIN_MARKERS}, {CAPTCHA_MARKERS}, body > pre"
SEARCH_READY = f"{NOTE_CARD}, .search-empty, {WALL_READY}"
NOTE_READY = f"#noteContainer, {WALL_READY}"
# Note ids are 24-hex object ids whose first 8 hex digits are the creation time, so the
# ``since`` and stored-cursor cutoffs apply before a note page is opened.
NOTE_ID = re.compile(r"^[0-9a-f]{24}$")
# A note page embeds ``<script>window.__INITIAL_STATE__={...}</script>``, a JavaScript literal
# (``undefined`` where JSON has ``null``).
STATE = re.compile(r"window\.__INITIAL_STATE__\s*=\s*(\{.*?\})\s*;?\s*</script>", re.DOTALL)
UNDEFINED = re.compile(r"(?<=[:\[,])undefined(?=[,}\]])")
HASHTAG = re.compile(r"#([^#\[\]\s]+)\[话题\]#")
CONTEXT = "xiaohongshu"
PUBLIC_BASE = "https://www.xiaohongshu.com"


class XiaohongshuSpider(PlatformSpider):
    """Renders searches and notes in Chromium; see the module docstring."""

    name = "xiaohongshu"
    default_base_url = PUBLIC_BASE
    credential_names = ("XHS_STORAGE_STATE",)
    default_max_pages = 3
    custom_settings = {**playwright_settings(), "CONCURRENT_REQUESTS": 1}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.context_kwargs: dict[str, Any] = {}
        self.blocked = ""

    async def prepare(self) -> None:
        state = self.credential("XHS_STORAGE_STATE")
        problem = storage_state_problem(state)
        if problem:
            self.count("missing_credentials")
            self.logger.error(
                "xiaohongshu needs a logged-in browser session: %s. Save one with `python -m "
                "crawler.browser https://www.xiaohongshu.com PATH` (log in, press Enter) and set "
                "XHS_STORAGE_STATE=PATH; nothing crawled",
                problem,
            )
            raise CloseSpider("missing_credentials")
        self.context_kwargs = {
            "storage_state": state,
            "locale": "zh-CN",
            "viewport": {"width": 1280, "height": 900},
        }

    def _render(self, url: str, ready: str, **options: Any) -> scrapy.Request:
        meta = render_meta(CONTEXT, self.context_kwargs, ready, **options)
        return scrapy.Request(url, meta={**meta, "handle_httpstatus_list": list(WALL_STATUSES)})

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        query = urlencode({"keyword": walk.query, "source": "web_explore_feed"})
        return self._render(
            f"{walk.base_url}/search_result?{query}",
            SEARCH_READY,
            item_selector=NOTE_CARD,
            scrolls=self.max_pages - 1,
        )

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        self.stop_at_wall(response)
        if not rendered(response.meta).ready:
            raise BadResponse("unrecognised_page", "neither note cards nor a wall appeared")
        # Scrolling is the pagination: one rendered search page is the whole walk.
        return Page(entries=response.css(NOTE_CARD), next_cursor=None)

    def parse_entry(self, entry: Selector, walk: Walk, response: Response) -> Post:
        href = entry.css("a.cover::attr(href)").get() or entry.css(
            'a[href*="/explore/"]::attr(href)'
        ).get("")
        link = urlsplit(href)
        note_id = link.path.rstrip("/").rsplit("/", 1)[-1]
        if not NOTE_ID.match(note_id):
            raise BadResponse("unexpected_card", f"no note link in card ({href!r})")
        token = parse_qs(link.query).get("xsec_token", [""])[0]
        query = urlencode({"xsec_token": token, "xsec_source": "pc_search"})
        return Post(
            post_id=note_id,
            url=f"{PUBLIC_BASE}/explore/{note_id}?{query}",
            created_at=_id_time(note_id),
            marker=str(int(note_id, 16)),
            author_id=_user_id(entry.css("a.author::attr(href)").get("")),
            author_name=entry.css(".author .name::text").get("").strip(),
            text=" ".join(entry.css(".footer .title ::text").getall()).strip(),
            detail=self._render(
                f"{walk.base_url}/explore/{note_id}?{query}", NOTE_READY, screenshot=True
            ),
        )

    def parse_post(self, response: Response, post: Post) -> Post | None:
        self.stop_at_wall(response)
        page = rendered(response.meta)
        note = note_from_state(response.text, post.post_id) if page.ready else None
        if note is None:
            self.report("note_unavailable", response.url, "no note on the page", level=INFO)
            return None
        tags = [t.get("name", "") for t in note.get("tagList") or ()]
        is_video = note.get("type") == "video"
        post.created_at = note["time"] / 1000 if note.get("time") else post.created_at
        user = note.get("user") or {}
        post.author_id = user.get("userId") or post.author_id
        post.author_name = user.get("nickname") or post.author_name
        post.text = "\n\n".join(p for p in (note.get("title"), note.get("desc")) if p)
        post.tags = tags + HASHTAG.findall(note.get("desc") or "")
        post.image_urls = [] if is_video else [_best(i) for i in note.get("imageList") or ()]
        post.skip_reason = "video_only" if is_video else "no_images"
        post.screenshot = page.screenshot
        post.extra = {"note_type": note.get("type"), "ip_location": note.get("ipLocation")}
        return post

    def stop_at_wall(self, response: Response) -> None:
        """Close the crawl when the site shows a captcha or a login wall instead of content."""
        if self.blocked:
            # A request already in flight when the wall appeared: stop, say nothing twice.
            raise CloseSpider(self.blocked)
        wall = _wall(response)
        if wall is None:
            return
        self.blocked = f"xiaohongshu_{wall}"
        self.count(f"blocked/{wall}")
        self.logger.error(
            "xiaohongshu answered with a %s at %s: the session in XHS_STORAGE_STATE is logged "
            "out or flagged. Open xiaohongshu.com in your own browser, solve it or log in, "
            "export a fresh storage state and lower the rate; crawl stopped",
            wall.replace("_", " "),
            response.url,
        )
        raise CloseSpider(self.blocked)


def _wall(response: Response) -> str | None:
    if response.status in WALL_STATUSES:
        return f"captcha_http_{response.status}"
    if "/website-login/captcha" in response.url or response.css(CAPTCHA_MARKERS):
        return "captcha"
    if urlsplit(response.url).path.startswith("/login") or response.css(LOGIN_MARKERS):
        return "login_wall"
    return None


def note_from_state(html: str, note_id: str) -> dict[str, Any] | None:
    """The note of ``window.__INITIAL_STATE__`` in a note page, or None when absent.

    It sits at ``note.noteDetailMap[<note_id>].note``, with ``type`` ("normal"/"video"),
    ``title``, ``desc``, ``time`` (epoch ms), ``user{userId,nickname}``, ``tagList[].name``
    and ``imageList[]{urlDefault, infoList[{imageScene: "WB_DFT", url}]}``.
    """
    match = STATE.search(html)
    if not match:
        return None
    try:
        state = json.loads(UNDEFINED.sub("null", match.group(1)))
    except ValueError:
        return None
    entry = ((state.get("note") or {}).get("noteDetailMap") or {}).get(note_id) or {}
    return entry.get("note") or None


def _best(image: dict[str, Any]) -> str:
    """WB_DFT is the full-size rendition the web app shows; WB_PRV is a preview."""
    for info in image.get("infoList") or ():
        if info.get("imageScene") == "WB_DFT" and info.get("url"):
            return info["url"]
    return image.get("urlDefault") or image.get("url") or ""


def _id_time(note_id: str) -> int | None:
    seconds = int(note_id[:8], 16)
    # Outside the site's lifetime the id is not an object id: let the note page say.
    return seconds if 1_356_998_400 <= seconds <= time.time() + 86_400 else None


def _user_id(href: str) -> str:
    path = urlsplit(href).path
    return path.rsplit("/", 1)[-1] if path.startswith("/user/profile/") else ""


def storage_state_problem(path: str | None) -> str | None:
    """Why ``path`` cannot serve as a logged-in session (naming XHS_STORAGE_STATE), or None."""
    if not path:
        return "XHS_STORAGE_STATE is not set"
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"XHS_STORAGE_STATE={path} does not exist"
    except (OSError, ValueError) as error:
        return f"XHS_STORAGE_STATE={path} is not readable JSON ({error})"
    if not isinstance(state, dict) or not isinstance(state.get("cookies"), list):
        return f"XHS_STORAGE_STATE={path} is not a Playwright storage state (no 'cookies' list)"
    return None
