"""The shared base of every platform spider: arguments, walks, pagination, cutoffs, items.

A *walk* is one pass over one (instance, query) pair, newest first, page after page. A
platform module subclasses ``PlatformSpider``, sets ``name`` and ``default_base_url`` and
implements ``listing_request``, ``parse_listing`` and ``parse_entry`` (and ``parse_post`` when
a listing is too thin); everything else lives here: the stored-cursor and ``since`` cutoffs,
``max_pages``, item normalisation, the ``CursorItem`` after a walk that finished cleanly, and
one stats key and one log line per bad response instead of a traceback. Every entry is
parsed and checked in its own guard, so a malformed one is counted under
``artwatch/<spider>/bad_entry/<reason>`` and the rest of its page goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler import jsondepth
from crawler.items import CursorItem, PostItem
from pipelines.stages.items import cursors_requested

# Tags whose presence on a post means its author labelled it as AI-made.
AI_TAGS = frozenset(
    {
        "ai",
        "aiart",
        "aiartwork",
        "aiartcommunity",
        "aigenerated",
        "aiartist",
        "aiimage",
        "aiillustration",
        "generativeart",
        "generativeai",
        "stablediffusion",
        "midjourney",
        "dalle",
        "dalle2",
        "dalle3",
        "novelai",
        "nijijourney",
        "flux",
        "sdxl",
        "aiイラスト",
        "ai绘画",
        "ai插画",
        "aigc",
    }
)

# Parsing mistakes a changed API shape produces; caught per page and per entry.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)
T = TypeVar("T")


class BadResponse(Exception):
    """A response the spider cannot use; ``kind`` becomes the stats key suffix."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class BadEntry(BadResponse):
    """One entry of a listing the spider cannot use; ``kind`` names the drop reason."""


@dataclass
class Walk:
    """One pass over one (instance, query): its progress and the newest marker it saw."""

    base_url: str
    query: str
    key: str
    pages: int = 0
    newest: str | None = None
    pending: int = 0
    listing_done: bool = False
    failed: bool = False

    @property
    def instance(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url


@dataclass
class Page:
    """What a listing response holds: raw entries, newest first, and the next cursor."""

    entries: list[Any]
    next_cursor: str | None = None


@dataclass
class Post:
    """One post as a platform module sees it, before the base normalises it into an item.

    ``marker`` orders posts within a walk (a status id, an ISO timestamp) and becomes the
    stored cursor; ``skip_reason`` says why a post without images has none ("video_only").
    """

    post_id: str
    url: str
    created_at: str | datetime | float | int | None
    marker: str
    author_id: str = ""
    author_name: str = ""
    text: str = ""
    tags: Iterable[str] = ()
    image_urls: Iterable[str] = ()
    ai_evidence: Iterable[str] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes | None = None
    skip_reason: str | None = None
    detail: scrapy.Request | None = None


def to_utc(value: str | datetime | date | float | None) -> datetime | None:
    """Parse an ISO 8601 string, a datetime, a date or epoch seconds into aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def marker_key(marker: str) -> tuple[int, int | str]:
    """Sort key for markers: numeric ids compare as numbers, anything else as text."""
    if marker.isdigit():
        return (0, int(marker))
    return (1, marker)


class PlatformSpider(scrapy.Spider):
    """Base of every platform spider; see the module docstring for what a subclass adds."""

    name: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    # Credentials this platform uses, named in the log when it answers 401/403.
    credential_names: ClassVar[tuple[str, ...]] = ()
    default_max_pages: ClassVar[int] = 5
    # Meta for API requests: robots.txt governs HTML pages, not documented APIs for programs.
    api_meta: ClassVar[dict[str, Any]] = {"dont_obey_robotstxt": True}

    def __init__(
        self,
        *args: Any,
        tags: str | None = None,
        base_url: str | None = None,
        max_pages: str | int | None = None,
        since: str | None = None,
        feeds: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.cursors: dict[str, str] = {}
        self.tags_arg = _split_tags(tags) if tags is not None else None
        self.feeds_arg = [f.strip() for f in feeds.split(",") if f.strip()] if feeds else None
        self.base_url_arg = _check_base_url(base_url) if base_url is not None else None
        self.max_pages = _parse_max_pages(max_pages, self.default_max_pages)
        self.since = _parse_since(since)
        self._logged_kinds: set[str] = set()

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        platform = settings.getdict("ARTWATCH_PLATFORMS").get(cls.name) or {}
        # Spider priority: a -s DOWNLOAD_DELAY=... on the command line still wins.
        if "download_delay" in platform:
            settings.set("DOWNLOAD_DELAY", platform["download_delay"], priority="spider")
        if "concurrency" in platform:
            settings.set(
                "CONCURRENT_REQUESTS_PER_DOMAIN", platform["concurrency"], priority="spider"
            )

    # -- configuration ---------------------------------------------------------------------

    @property
    def platform_config(self) -> dict[str, Any]:
        return self.settings.getdict("ARTWATCH_PLATFORMS").get(self.name) or {}

    def credential(self, name: str) -> str | None:
        """A credential from ARTWATCH_CREDENTIALS, unwrapped if it is a pydantic SecretStr."""
        value = self.settings.getdict("ARTWATCH_CREDENTIALS").get(name)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        return value or None

    @property
    def tags(self) -> list[str]:
        if self.tags_arg is not None:
            return self.tags_arg
        return _split_tags(",".join(self.platform_config.get("tags") or ()))

    @property
    def feeds(self) -> list[str]:
        """Feed URLs or URIs for spiders that read feeds: the ``feeds`` argument or config."""
        if self.feeds_arg is not None:
            return self.feeds_arg
        return list(self.platform_config.get("feeds") or ())

    @property
    def base_urls(self) -> list[str]:
        if self.base_url_arg:
            return [self.base_url_arg]
        configured = [u.rstrip("/") for u in self.platform_config.get("base_urls") or ()]
        return configured or [self.default_base_url.rstrip("/")]

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Hosts the operator chose (instances and feeds, from arguments or config): requests
        to them skip the private-address guard, which holds for every URL a response chose."""
        feeds = [feed for feed in self.feeds if feed.startswith(("http://", "https://"))]
        urls = [*self.base_urls, *feeds]
        return frozenset(host for host in (urlsplit(url).hostname for url in urls) if host)

    def queries(self) -> list[str]:
        """What each walk searches for; tags by default (subreddits, feeds elsewhere)."""
        return self.tags

    def walk_targets(self) -> Iterator[tuple[str, str]]:
        for base_url in self.base_urls:
            for query in self.queries():
                yield base_url, query

    # -- what a platform implements ---------------------------------------------------------

    async def prepare(self) -> None:
        """Runs once before the first request: log in, check credentials, or nothing."""

    def listing_request(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        """The request for the first page when ``cursor`` is None, else for the page it names."""
        raise NotImplementedError

    def parse_listing(self, response: Response, walk: Walk) -> Page:
        """The raw entries of a listing page and the cursor of the next one."""
        raise NotImplementedError

    def parse_entry(self, entry: Any, walk: Walk, response: Response) -> Post | None:
        """One raw entry as a ``Post``; one with a ``detail`` request goes to ``parse_post``."""
        raise NotImplementedError

    def parse_post(self, response: Response, post: Post) -> Post | None:
        """Completes a post from its ``detail`` response; only needed where listings are thin."""
        raise NotImplementedError

    def chronological(self, walk: Walk) -> bool:
        """Whether the walk lists posts newest first by their marker. A ranked feed or one with
        reposts is not: there, posts at or below the stored cursor may still be unseen, so no
        cursor drops them nor ends the walk early (only ``since`` skips a post, and
        ``max_pages`` ends the walk); the posts stage drops those already stored."""
        return True

    # -- helpers for platform modules -------------------------------------------------------

    async def fetch(self, request: scrapy.Request) -> Response:
        """Download one request outside the crawl graph (a login, a token); any HTTP status
        comes back as a response, a network failure raises."""
        return await self.crawler.engine.download_async(request)

    async def try_fetch(self, request: scrapy.Request) -> Response | None:
        """Like ``fetch``, but a network failure is counted, logged and gives None."""
        try:
            return await self.fetch(request)
        except Exception as error:  # DNS, refused, timeout...: the crawl goes on without it
            self.report("network", request.url, f"{type(error).__name__}: {error}")
            return None

    async def fetch_token(
        self, url: str, body: str, content_type: str, field: str, kind: str, fallback: str = ""
    ) -> str | None:
        """POST credentials (``body``) to ``url`` and return ``field`` of the JSON answer, the
        bearer token; or None once the reason is reported: a network failure, a refusal (naming
        ``credential_names``), an answer without ``field`` (stats kind ``kind``). ``fallback``
        ends the message with what the spider does instead."""
        headers = {"Content-Type": content_type}
        meta = {**self.api_meta, "handle_httpstatus_all": True}
        request = scrapy.Request(url, method="POST", body=body, headers=headers, meta=meta)
        response = await self.try_fetch(request)
        if response is None:
            return None
        if response.status != 200:
            message = self._status_message(response.status) + fallback
            self.report(f"http_{response.status}", url, message)
            return None
        try:
            return self.json(response)[field]
        except (BadResponse, KeyError, TypeError) as error:
            self.report(kind, url, f"no {field} in the answer ({error}){fallback}")
            return None

    def json(self, response: Response) -> Any:
        """The JSON body, or BadResponse naming what came instead."""
        body = response.body.strip()
        if not body:
            raise BadResponse("empty_body")
        content_type = response.headers.get("Content-Type", b"").lower()
        if b"html" in content_type or body[:1] == b"<":
            raise BadResponse("html_instead_of_json", content_type.decode("latin-1"))
        try:
            return jsondepth.loads(body)  # a hostile entry nested too deep costs only itself
        except ValueError as error:
            raise BadResponse("invalid_json", f"truncated or malformed ({error})") from None

    def count(self, key: str, value: int = 1) -> None:
        self.crawler.stats.inc_value(f"artwatch/{self.name}/{key}", value)

    def report(
        self,
        kind: str,
        url: str,
        message: str,
        level: int = logging.WARNING,
        group: str = "bad_response",
    ) -> None:
        """Count a bad response (or, with ``group="bad_entry"``, a bad entry) and log it: every
        time at ``level`` for failures that end a walk, only the first time per kind for
        per-post skips (``level`` INFO)."""
        self.count(f"{group}/{kind}")
        if level <= logging.INFO and f"{group}/{kind}" in self._logged_kinds:
            level = logging.DEBUG
        self._logged_kinds.add(f"{group}/{kind}")
        self.logger.log(level, "%s: %s (%s)", kind, message, url)

    def _guard(
        self,
        parse: Callable[[], T],
        url: str,
        unusable: str = "",
        shape_kind: str = "unexpected_shape",
        level: int = logging.WARNING,
    ) -> tuple[bool, T | None]:
        """``(True, parse())``, or ``(False, None)`` once a bad response is reported: a
        ``BadResponse`` under its own kind, a parsing mistake (``SHAPE_ERRORS``) under
        ``shape_kind``; ``unusable`` is the message when the error gives no detail."""
        try:
            return True, parse()
        except BadResponse as error:
            self.report(error.kind, url, error.detail or unusable, level)
        except SHAPE_ERRORS as error:
            self.report(shape_kind, url, f"{type(error).__name__}: {error}", level)
        return False, None

    def cursor_key(self, walk_base_url: str, query: str) -> str:
        host = urlsplit(walk_base_url).netloc or walk_base_url
        return f"{self.name}:{host}:{query}"

    # -- the crawl loop ---------------------------------------------------------------------

    async def stored_cursors(self) -> dict[str, str]:
        """The cursors stored for this spider: every ``cursors_requested`` receiver's answer
        (the posts stage's; see ``pipelines.stages.items``), none when nothing answers."""
        answers = await self.crawler.signals.send_catch_log_async(
            signal=cursors_requested, spider=self
        )
        found: dict[str, str] = {}
        for _, answer in answers:
            if isinstance(answer, dict):
                found.update(answer)
        return found

    async def start(self) -> AsyncIterator[Any]:
        self.cursors.update(await self.stored_cursors())
        await self.prepare()
        targets = list(self.walk_targets())
        if not targets:
            self.count("nothing_to_crawl")
            self.logger.warning(
                "nothing to crawl: pass -a tags=... or set platforms.%s in config/sources.yaml",
                self.name,
            )
        for base_url, query in targets:
            walk = Walk(base_url, query, self.cursor_key(base_url, query))
            yield self._listing(walk, None)

    def _listing(self, walk: Walk, cursor: str | None) -> scrapy.Request:
        request = self.listing_request(walk, cursor)
        return request.replace(
            callback=self._on_listing,
            errback=self._on_listing_error,
            cb_kwargs={"walk": walk},
            dont_filter=True,
        )

    def _on_listing(self, response: Response, walk: Walk) -> Iterator[Any]:
        walk.pages += 1
        self.count("pages")
        ok, page = self._guard(
            lambda: self.parse_listing(response, walk), response.url, "unusable listing"
        )
        if not ok:
            walk.failed = True
            return
        if not page.entries:
            self.count("empty_pages")
        reached_cutoff = False
        for entry in page.entries:
            post = self._entry(entry, walk, response)
            if post is None:
                continue
            if self._is_old(post, walk):
                reached_cutoff = reached_cutoff or self.chronological(walk)
                self.count("posts_older_than_cutoff")
                continue
            if walk.newest is None or marker_key(post.marker) > marker_key(walk.newest):
                walk.newest = post.marker
            if post.detail is not None:
                walk.pending += 1
                yield post.detail.replace(
                    callback=self._on_detail,
                    errback=self._on_detail_error,
                    cb_kwargs={"walk": walk, "post": post},
                )
            else:
                yield from self._item(post, walk, response)
        if page.next_cursor and not reached_cutoff and walk.pages < self.max_pages:
            try:
                yield self._listing(walk, page.next_cursor)
            except SHAPE_ERRORS as error:
                walk.failed = True
                self.report("bad_next_page", response.url, f"{page.next_cursor!r}: {error}")
            return
        walk.listing_done = True
        yield from self._finish(walk)

    def _entry(self, entry: Any, walk: Walk, response: Response) -> Post | None:
        """The entry as a checked ``Post``; or None once a bad one is counted and logged (once
        per reason): a malformed entry skips only that post, and the page goes on."""
        try:
            if jsondepth.contains_too_deep(entry):
                raise BadEntry("too_deep", f"nested deeper than {jsondepth.MAX_DEPTH} levels")
            return checked(self.parse_entry(entry, walk, response))
        except BadResponse as error:
            kind, detail = error.kind, error.detail
        except RecursionError:
            kind, detail = "too_deep", "nested too deeply to parse"
        except SHAPE_ERRORS as error:
            kind, detail = "unexpected_shape", f"{type(error).__name__}: {error}"
        self.report(kind, response.url, f"entry skipped: {detail}", logging.INFO, "bad_entry")
        return None

    def _on_listing_error(self, failure: Failure) -> None:
        walk = failure.request.cb_kwargs["walk"]
        walk.failed = True
        self._report_failure(failure)

    def _on_detail(self, response: Response, walk: Walk, post: Post) -> Iterator[Any]:
        walk.pending -= 1
        ok, completed = self._guard(
            lambda: checked(self.parse_post(response, post)),
            response.url,
            "unusable post page",
        )
        walk.failed = walk.failed or not ok  # so no cursor: the next run sees this post again
        if completed is not None:
            yield from self._item(completed, walk, response)
        yield from self._finish(walk)

    def _on_detail_error(self, failure: Failure) -> None:
        walk = failure.request.cb_kwargs["walk"]
        walk.pending -= 1
        walk.failed = True  # so no cursor: the next run sees this post again
        self._report_failure(failure)

    def _report_failure(self, failure: Failure) -> None:
        url = failure.request.url
        if failure.check(HttpError):
            status = failure.value.response.status
            self.report(f"http_{status}", url, self._status_message(status))
        elif failure.check(IgnoreRequest):  # the private-address guard, or a scheme refused
            self.report("refused_url", url, str(failure.value))
        elif failure.check(DownloadCancelledError) and "max size" in str(failure.value):
            self.report("too_large", url, f"refused: {failure.value} (DOWNLOAD_MAXSIZE)")
        else:
            error = failure.value
            self.report("network", url, f"{type(error).__name__}: {error}")

    def _status_message(self, status: int) -> str:
        if status in (401, 403) and self.credential_names:
            names = " / ".join(self.credential_names)
            configured = all(self.credential(name) for name in self.credential_names)
            state = "set, but refused" if configured else "not set"
            return f"access refused; check {names} ({state})"
        if status in (401, 403):
            return "access refused (this platform needs no credentials: blocked?)"
        if status in (429, 503):
            return "still rate limited after the retries of RateLimitRetryMiddleware"
        return f"HTTP {status}"

    def _finish(self, walk: Walk) -> Iterator[CursorItem]:
        if walk.listing_done and walk.pending == 0 and not walk.failed and walk.newest:
            walk.listing_done = False  # a walk closes once
            self.count("walks_finished")
            yield CursorItem(key=walk.key, value=walk.newest)

    def _is_old(self, post: Post, walk: Walk) -> bool:
        stored = self.cursors.get(walk.key) if self.chronological(walk) else None
        # An undated feed entry has no marker: only `since` and the posts pipeline judge it.
        if stored and post.marker and marker_key(post.marker) <= marker_key(str(stored)):
            return True
        created = to_utc(post.created_at)
        return self.since is not None and created is not None and created < self.since

    def _item(self, post: Post, walk: Walk, response: Response) -> Iterator[PostItem]:
        joined = (urljoin(response.url, url) for url in post.image_urls if url)
        image_urls = _unique(url for url in joined if url.startswith(("http://", "https://")))
        if not image_urls:
            reason = post.skip_reason or "no_images"
            self.crawler.stats.inc_value("artwatch/posts_without_images")
            self.report(reason, post.url or response.url, "post skipped", level=logging.INFO)
            return
        tags = _unique(t.strip().lstrip("#").lower() for t in post.tags if t.strip("# "))
        evidence = list(post.ai_evidence)
        evidence += [f"tag:{tag}" for tag in tags if tag in AI_TAGS]
        created = to_utc(post.created_at)
        self.count("posts")
        yield PostItem(
            platform=self.name,
            post_id=str(post.post_id),
            url=post.url,
            author_id=str(post.author_id or ""),
            author_name=post.author_name or "",
            created_at=iso_utc(created) if created else None,
            text=(post.text or "").strip(),
            tags=tags,
            image_urls=image_urls,
            ai_labeled=bool(evidence),
            ai_evidence=_unique(evidence),
            query=walk.query,
            instance=walk.instance,
            extra=post.extra,
            screenshot=post.screenshot,
            cursor_key=walk.key,
        )


def checked(post: Post | None) -> Post | None:
    """The post with its date parsed and its tags and image URLs known to be text, so nothing
    after the entry guard can fail on them; BadEntry names what is wrong."""
    if post is None:
        return None
    try:
        post.created_at = to_utc(post.created_at)
    except (TypeError, ValueError, OverflowError, OSError) as error:
        raise BadEntry("bad_date", f"{post.created_at!r}: {error}") from None
    for name, kind in (("tags", "bad_tags"), ("image_urls", "bad_image_url")):
        values = list(getattr(post, name) or ())
        wrong = [value for value in values if not isinstance(value, str)]
        if wrong:
            raise BadEntry(kind, f"{name} holds {wrong[0]!r}, not text")
        setattr(post, name, values)
    post.marker = "" if post.marker is None else str(post.marker)
    return post


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _split_tags(value: str) -> list[str]:
    return _unique(t.strip().lstrip("#").lower() for t in value.split(",") if t.strip("# "))


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"argument base_url={value!r}: expected http(s)://host[:port]")
    return value.rstrip("/")


def _parse_max_pages(value: str | int | None, default: int) -> int:
    if value is None:
        return default
    try:
        pages = int(value)
    except ValueError:
        pages = 0
    if pages < 1:
        raise ValueError(f"argument max_pages={value!r}: expected a whole number >= 1")
    return pages


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return to_utc(value)
    except ValueError:
        raise ValueError(
            f"argument since={value!r}: expected an ISO date such as 2026-01-31"
        ) from None
