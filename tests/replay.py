"""Replay recorded platform responses from a local server and run real crawls against it.

A case is a folder ``tests/fixtures/<platform>/<case>/`` with ``index.json`` (a list of
``{"method", "path" (with query string), "status", "headers", "body_file" | "body",
"times", "expect_headers"}``), the body files, ``expected.json`` and a README naming the
source and license (or saying ``invented``). ``{base}`` in headers and bodies is replaced by
the server's own ``http://127.0.0.1:PORT`` at serve time, so recorded ``Link`` headers and
next-page URLs lead back to the replay server. Entries are matched in order on method, path
and the query as a multiset; an entry with ``times: n`` is used up after n answers (a 429
then a 200 on the same URL). A request nothing matches gets a 404 and lands in
``server.unexpected``, which the tests assert empty.

``run_spider`` runs one real crawl (Scrapy's own engine, downloader and middlewares) on an
asyncio Twisted reactor that lives in a background thread for the whole test session, and
returns the items, the cursors, the stats and the log lines. ``check_expected`` compares a
result with the case's ``expected.json``; run the tests with ``ARTWATCH_UPDATE_EXPECTED=1`` to
rewrite those files from what the spiders yield now, then review the diff.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scrapy import signals
from scrapy.utils.reactor import install_reactor, is_reactor_installed
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.items import CursorItem
from pipelines.stages.items import cursors_requested

FIXTURES = Path(__file__).parent / "fixtures"
UPDATE_EXPECTED = os.environ.get("ARTWATCH_UPDATE_EXPECTED") == "1"


def _query_key(target: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(target)
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a crawl fetches many images at once:
    # the kernel drops SYNs and the client retries after 1, 3, 7 s.
    request_queue_size = 128


class ReplayServer:
    """Serves one case folder on 127.0.0.1:0; use as a context manager."""

    def __init__(
        self, case_dir: Path | None = None, entries: list[dict] | None = None, port: int = 0
    ):
        """Serve ``case_dir/index.json``, or ``entries`` given inline (bodies as ``body``);
        ``port`` again to be the same instance again (post keys hold the instance)."""
        self.case_dir = Path(case_dir) if case_dir else FIXTURES
        if entries is None:
            entries = json.loads((self.case_dir / "index.json").read_text(encoding="utf-8"))
        self.entries = entries
        self.uses: Counter[int] = Counter()
        self.requests: list[Recorded] = []
        self.unexpected: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ReplayServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _match(self, method: str, target: str, headers: dict[str, str]) -> dict | None:
        wanted = _query_key(target)
        with self._lock:
            for number, entry in enumerate(self.entries):
                if entry.get("method", "GET") != method:
                    continue
                if _query_key(entry["path"]) != wanted:
                    continue
                if "times" in entry and self.uses[number] >= entry["times"]:
                    continue
                expected = entry.get("expect_headers", {})
                if any(headers.get(k.lower()) != v for k, v in expected.items()):
                    continue
                self.uses[number] += 1
                return entry
        return None

    def _body(self, entry: dict) -> bytes:
        if "body_file" in entry:
            raw = (self.case_dir / entry["body_file"]).read_bytes()
        else:
            raw = entry.get("body", "").encode("utf-8")
        return raw.replace(b"{base}", self.base.encode("ascii"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append(Recorded(self.command, self.path, headers, body))
                entry = server._match(self.command, self.path, headers)
                if entry is None:
                    server.unexpected.append(f"{self.command} {self.path}")
                    self.send_error(404, "not in the replay index")
                    return
                payload = server._body(entry)
                self.send_response(entry.get("status", 200))
                for name, value in entry.get("headers", {}).items():
                    self.send_header(name, value.replace("{base}", server.base))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- crawling ------------------------------------------------------------------------------

_reactor_lock = threading.Lock()


def _reactor() -> Any:
    """The asyncio reactor, installed once and run in a daemon thread for the session."""
    with _reactor_lock:
        if not is_reactor_installed():
            install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from twisted.internet import reactor

        if not reactor.running:
            threading.Thread(
                target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
            ).start()
    return reactor


# The project's own settings (middlewares, ARTWATCH_PLATFORMS, ...), as `scrapy crawl` has them.
PROJECT_SETTINGS: dict[str, Any] = {
    name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()
}

# Settings every replayed crawl uses: no database, no pipelines, no politeness delays.
TEST_SETTINGS: dict[str, Any] = {
    "ARTWATCH_STORE": "none",
    "ITEM_PIPELINES": {},
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "ROBOTSTXT_OBEY": False,
    "ARTWATCH_RATELIMIT_MAX_WAIT": 1.0,
    "ARTWATCH_RATELIMIT_DEFAULT_WAIT": 0.2,
    "ARTWATCH_ALLOW_PRIVATE_HOSTS": ["127.0.0.1"],
    "LOG_LEVEL": "DEBUG",
    # The per-platform delays of config/sources.yaml would otherwise override DOWNLOAD_DELAY.
    "ARTWATCH_PLATFORMS": {
        name: {**platform, "download_delay": 0}
        for name, platform in PROJECT_SETTINGS["ARTWATCH_PLATFORMS"].items()
    },
}


@dataclass
class CrawlResult:
    items: list[dict[str, Any]] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    order: list[tuple[str, str]] = field(default_factory=list)

    def artwatch_stats(self) -> dict[str, Any]:
        return {k: v for k, v in sorted(self.stats.items()) if k.startswith("artwatch/")}

    def log_lines(self, needle: str, level: str = "") -> list[str]:
        """Log lines containing ``needle``, only those at ``level`` (e.g. "INFO") if given."""
        return [line for line in self.logs if needle in line and line.startswith(level)]


class _LogCollector(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        if record.exc_info:
            self.lines.append(f"TRACEBACK {record.exc_info[1]!r}")


def run_spider(
    spidercls: type,
    settings: dict[str, Any] | None = None,
    cursors: dict[str, str] | None = None,
    timeout: float = 60,
    **spider_args: Any,
) -> CrawlResult:
    """One real crawl of ``spidercls`` with ``spider_args``; ``cursors`` answers the spider's
    ``cursors_requested`` signal the way the posts stage does when a database is set."""
    from twisted.internet.threads import blockingCallFromThread

    reactor = _reactor()
    result = CrawlResult()
    collector = _LogCollector(result.logs)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)

    def scraped(item: Any) -> None:
        if isinstance(item, CursorItem):
            result.cursors[item["key"]] = item["value"]
            result.order.append(("cursor", item["key"]))
        else:
            result.items.append(dict(item))
            result.order.append(("post", item.get("cursor_key")))

    def stored_cursors(spider: Any) -> dict[str, str]:
        return dict(cursors or {})

    def crawl() -> Any:
        crawler = get_crawler(spidercls, {**PROJECT_SETTINGS, **TEST_SETTINGS, **(settings or {})})
        crawler.signals.connect(scraped, signal=signals.item_scraped)
        crawler.signals.connect(stored_cursors, signal=cursors_requested)
        deferred = crawler.crawl(**spider_args)
        deferred.addTimeout(timeout, reactor)
        deferred.addCallback(lambda _: crawler.stats.get_stats())
        return deferred

    try:
        result.stats = blockingCallFromThread(reactor, crawl)
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)
    return result


# -- expected.json ---------------------------------------------------------------------------


def _portable(value: Any, base: str) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return value.replace(base, "{base}").replace(base.split("://")[1], "{host}")
    if isinstance(value, list | tuple):
        return [_portable(v, base) for v in value]
    if isinstance(value, dict):
        return {_portable(k, base): _portable(v, base) for k, v in value.items()}
    return value


def snapshot(result: CrawlResult, base: str) -> dict[str, Any]:
    """What expected.json holds: items sorted by walk and id, cursors, artwatch stats."""
    items = sorted(result.items, key=lambda i: (i.get("cursor_key") or "", str(i["post_id"])))
    stats = {k: v for k, v in result.artwatch_stats().items() if not k.endswith("/wait_seconds")}
    return _portable({"items": items, "cursors": result.cursors, "stats": stats}, base)


def check_expected(case_dir: Path, result: CrawlResult, base: str) -> dict[str, Any]:
    """Assert the crawl matches ``expected.json`` (or rewrite it when updating)."""
    path = Path(case_dir) / "expected.json"
    actual = snapshot(result, base)
    if UPDATE_EXPECTED:
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with ARTWATCH_UPDATE_EXPECTED=1, then review"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected, f"crawl differs from {path} (ARTWATCH_UPDATE_EXPECTED=1 rewrites)"
    check_invariants(result)
    return actual


def check_invariants(result: CrawlResult) -> None:
    """What holds for every crawl: images present, contract fields typed, cursors last."""
    for item in result.items:
        assert item["image_urls"], item
        assert all(u.startswith(("http://", "https://")) for u in item["image_urls"]), item
        assert isinstance(item["ai_labeled"], bool)
        assert all(t == t.lower() and not t.startswith("#") for t in item["tags"])
        assert item["created_at"] is None or item["created_at"].endswith("Z")
    for position, (kind, key) in enumerate(result.order):
        if kind == "cursor":
            later = result.order[position + 1 :]
            assert ("post", key) not in later, f"a post of {key} came after its cursor"
    assert not [line for line in result.logs if line.startswith("TRACEBACK")], result.logs
    assert not [line for line in result.logs if line.startswith("ERROR")], result.logs
