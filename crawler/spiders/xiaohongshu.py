"""Xiaohongshu (RED): the web app's own search and note answers, captured in a logged-in Chromium.

Nothing on xiaohongshu.com works without a logged-in session and signed API calls, so this
spider never calls the API itself: it drives Debian's Chromium through scrapy-playwright with
the cookies of a Playwright storage-state file the user exports from their own browser
(``XHS_STORAGE_STATE``), lets the web app sign and send its own requests, and reads the JSON
answers the page receives (``crawler.browser.ApiCapture``). One walk renders
``{base}/search_result?keyword=...`` and keeps the app's ``POST /api/sns/web/v1/search/notes``
answers, scrolling ``max_pages - 1`` times for the next pages; each image note's page is then
rendered, its ``POST /api/sns/web/v1/feed`` answer read and the page screenshotted (the PNG is
the evidence). A login wall or captcha stops the whole crawl at once: retrying only deepens
the block. The answers' fields are those public client code reads (see
tests/fixtures/xiaohongshu/README.md); no recording of the real site exists.
"""

from __future__ import annotations

import json
import re
import time
from logging import INFO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from crawler import jsondepth
from crawler.browser import (
    ApiCapture,
    Captured,
    Rendered,
    playwright_settings,
    render_meta,
    rendered,
)
from crawler.spiders.base import BadEntry, BadResponse, Page, PlatformSpider, Post, Walk

# The web app's API paths (on edith.xiaohongshu.com; matched whatever the host).
SEARCH_API = "/api/sns/web/v1/search/notes"
FEED_API = "/api/sns/web/v1/feed"
# Walls: HTTP 461/471 (on the page or on an API answer), a redirect to
# ``/website-login/captcha``, or these elements.
LOGIN_MARKERS = ".login-container, .login-modal"
CAPTCHA_MARKERS = ".red-captcha, #red-captcha"
WALL_STATUSES = (461, 471)
# Besides an API answer, a page is "ready" when it shows a wall or is a bare JSON/text answer;
# a note page also when it shows a server-rendered note (read from its state, see below).
WALL_READY = f"{LOGIN_MARKERS}, {CAPTCHA_MARKERS}, body > pre"
NOTE_READY = f"#noteContainer, {WALL_READY}"
# Note ids are 24-hex object ids whose first 8 hex digits are the creation time, so the
# ``since`` and stored-cursor cutoffs apply before a note page is opened.
NOTE_ID = re.compile(r"^[0-9a-f]{24}$")
# A note page loaded directly embeds the same note server-rendered:
# ``<script>window.__INITIAL_STATE__={...}</script>``, a JavaScript literal (``undefined``
# where JSON has ``null``) with camelCase keys.
STATE = re.compile(r"window\.__INITIAL_STATE__\s*=\s*(\{.*?\})\s*;?\s*</script>", re.DOTALL)
UNDEFINED = re.compile(r"(?<=[:\[,])undefined(?=[,}\]])")
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
HASHTAG = re.compile(r"#([^#\[\]\s]+)\[话题\]#")
# Words by which authors mark AI pictures; the platform's own "AI-generated" notice shows in
# no public client code, so words and topics are all the evidence there is.
AI_WORDS = ("ai绘画", "ai生成", "aigc", "ai作画", "ai插画", "ai创作")
CONTEXT = "xiaohongshu"
PUBLIC_BASE = "https://www.xiaohongshu.com"


class XiaohongshuSpider(PlatformSpider):
    """Captures the web app's search and note answers in Chromium; see the module docstring."""

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
            WALL_READY,
            capture=ApiCapture(SEARCH_API),
            scrolls=self.max_pages - 1,
        )

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        page = self.stop_at_wall(response)
        if not page.ready or not page.answers:
            raise BadResponse("unrecognised_page", "neither a search answer nor a wall came")
        # Scrolling is the pagination: the app asked for every page while the one view lived.
        notes: dict[str, Any] = {}
        for answer in page.answers:
            for entry in _data(answer).get("items") or ():
                # Other kinds ("rec_query", "hot_query") are suggestions, not notes.
                if isinstance(entry, dict) and entry.get("model_type") == "note":
                    notes.setdefault(str(entry.get("id")), entry)
        return Page(entries=list(notes.values()), next_cursor=None)

    def parse_entry(self, entry: dict[str, Any], walk: Walk, response: Response) -> Post:
        note_id = entry["id"]
        if not isinstance(note_id, str) or not NOTE_ID.match(note_id):
            raise BadEntry("unexpected_note_id", f"{note_id!r} is not a 24-hex note id")
        token = entry.get("xsec_token") or ""
        card = entry["note_card"]
        user = card.get("user") or {}
        is_video = card.get("type") == "video"
        post = Post(
            post_id=note_id,
            url=f"{PUBLIC_BASE}/explore/{note_id}?{urlencode({'xsec_token': token})}",
            created_at=_id_time(note_id),
            marker=str(int(note_id, 16)),
            author_id=user.get("user_id") or "",
            author_name=user.get("nickname") or user.get("nick_name") or "",
            text=card.get("display_title") or "",
            # The card already says "video": its page is not worth a request.
            skip_reason="video_only" if is_video else None,
        )
        if not is_video:
            query = urlencode({"xsec_token": token, "xsec_source": "pc_search"})
            post.detail = self._render(
                f"{walk.base_url}/explore/{note_id}?{query}",
                NOTE_READY,
                capture=ApiCapture(FEED_API),
                screenshot=True,
            )
        return post

    def parse_post(self, response: Response, post: Post) -> Post | None:
        page = self.stop_at_wall(response)
        note = _feed_note(page.answers, post.post_id) if page.ready else None
        if note is None and page.ready:
            note = note_from_state(response.text, post.post_id)
        if note is None:
            self.report("note_unavailable", response.url, "no note on the page", level=INFO)
            return None
        is_video = note.get("type") == "video"
        post.created_at = note["time"] / 1000 if note.get("time") else post.created_at
        user = note.get("user") or {}
        post.author_id = user.get("user_id") or post.author_id
        post.author_name = user.get("nickname") or user.get("nick_name") or post.author_name
        post.text = "\n\n".join(p for p in (note.get("title"), note.get("desc")) if p)
        topics = [t.get("name") or "" for t in note.get("tag_list") or () if _is_topic(t)]
        post.tags = topics + HASHTAG.findall(note.get("desc") or "")
        post.image_urls = [] if is_video else [best_image(i) for i in note.get("image_list") or ()]
        post.ai_evidence = ai_evidence(post.text, post.tags)
        post.skip_reason = "video_only" if is_video else "no_images"
        post.screenshot = page.screenshot
        post.extra = {"note_type": note.get("type"), "ip_location": note.get("ip_location")}
        return post

    def stop_at_wall(self, response: Response) -> Rendered:
        """The page's ``Rendered``, or the crawl closes when the site shows a captcha or a
        login wall instead of content."""
        if self.blocked:
            # A request already in flight when the wall appeared: stop, say nothing twice.
            raise CloseSpider(self.blocked)
        page = rendered(response.meta)
        wall = _wall(response, page.answers)
        if wall is None:
            return page
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


def _wall(response: Response, answers: tuple[Captured, ...]) -> str | None:
    for status in (response.status, *(answer.status for answer in answers)):
        if status in WALL_STATUSES:
            return f"captcha_http_{status}"
    if "/website-login/captcha" in response.url or response.css(CAPTCHA_MARKERS):
        return "captcha"
    if urlsplit(response.url).path.startswith("/login") or response.css(LOGIN_MARKERS):
        return "login_wall"
    return None


def _data(answer: Captured) -> dict[str, Any]:
    """``data`` of an API answer ``{code, success, msg, data}``; BadResponse when refused."""
    if not answer.body:
        raise BadResponse("empty_body", answer.url)
    try:
        document = jsondepth.loads(answer.body)
    except ValueError as error:
        raise BadResponse("invalid_json", f"{answer.url}: {error}") from None
    if not isinstance(document, dict) or document.get("success") is not True:
        detail = document.get("msg") if isinstance(document, dict) else document
        raise BadResponse("api_refused", f"{answer.url}: {detail!r}")
    return document.get("data") or {}


def _feed_note(answers: tuple[Captured, ...], note_id: str) -> dict[str, Any] | None:
    """The ``note_card`` of the feed answer about ``note_id``, or None when none came."""
    for answer in answers:
        for entry in _data(answer).get("items") or ():
            card = entry.get("note_card") or {}
            if (card.get("note_id") or entry.get("id")) == note_id:
                return card
    return None


def _is_topic(tag: Any) -> bool:
    # "topic" tags are the note's hashtags; others (places, brands) describe, not label.
    return isinstance(tag, dict) and tag.get("type", "topic") == "topic"


def note_from_state(html: str, note_id: str) -> dict[str, Any] | None:
    """The note of ``window.__INITIAL_STATE__`` in a note page, with the feed answer's
    snake_case keys, or None when absent. It sits at ``note.noteDetailMap[<note_id>].note``."""
    match = STATE.search(html)
    if not match:
        return None
    try:
        state = json.loads(UNDEFINED.sub("null", match.group(1)))
    except ValueError:
        return None
    entry = ((state.get("note") or {}).get("noteDetailMap") or {}).get(note_id) or {}
    return _snake(entry.get("note")) or None


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {CAMEL.sub("_", key).lower(): _snake(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snake(item) for item in value]
    return value


def best_image(image: dict[str, Any]) -> str:
    """The largest rendition of one ``image_list`` entry.

    ``info_list`` names each rendition by scene: ``WB_DFT`` is the full-size picture the web
    app shows in an open note, ``WB_PRV`` the preview of cards. ``url_default`` is that same
    full-size picture, ``url_pre`` the preview: a preview is taken only when nothing else is
    there (a thumbnail matches worse than nothing wrongly dropped).
    """
    scenes = {i.get("image_scene"): i.get("url") for i in image.get("info_list") or () if i}
    for url in (scenes.get("WB_DFT"), image.get("url_default"), image.get("url")):
        if url:
            return url
    return scenes.get("WB_PRV") or image.get("url_pre") or ""


def ai_evidence(text: str, tags: list[str]) -> list[str]:
    """``text:<word>`` for the AI words in the text, ``tag:<tag>`` for topics holding one (the
    base adds ``tag:`` for its own AI tags)."""
    lowered = text.lower()
    found = [f"text:{word}" for word in AI_WORDS if word in lowered]
    tagged = (tag.lower() for tag in tags)
    return found + [f"tag:{tag}" for tag in tagged if any(word in tag for word in AI_WORDS)]


def _id_time(note_id: str) -> int | None:
    seconds = int(note_id[:8], 16)
    # Outside the site's lifetime the id is not an object id: let the note page say.
    return seconds if 1_356_998_400 <= seconds <= time.time() + 86_400 else None


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
