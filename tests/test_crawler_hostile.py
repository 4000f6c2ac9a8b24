"""Hostile platforms through real crawls: URLs a response chose, oversized listings and
malformed entries, served by local servers (the replay server on 127.0.0.1, which the tests
allow, and a hostile one on 127.0.0.2, which they do not)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import scrapy
from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader
from twisted.internet._resolver import GAIResolver
from twisted.internet.threads import blockingCallFromThread

from artwatch.settings import PROJECT_ROOT
from crawler.spiders.base import PlatformSpider
from crawler.spiders.mastodon import MastodonSpider
from crawler.spiders.rss import RssSpider
from pipelines.netguard import GuardedResolver
from tests.replay import PROJECT_SETTINGS, ReplayServer, _reactor, check_invariants, run_spider

TIMELINE = "/api/v1/timelines/tag/aiart?limit=40&only_media=true"
JSON = {"Content-Type": "application/json"}
HOSTILE_ADDRESS = "127.0.0.2"  # loopback, but not in ARTWATCH_ALLOW_PRIVATE_HOSTS


class Hostile:
    """A server on 127.0.0.2 that records every request and answers with a tempting page."""

    def __init__(self):
        requests = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = json.dumps([status(9, "from the internal network")]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOSTILE_ADDRESS, 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://{HOSTILE_ADDRESS}:{self.port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def status(number: int, text: str = "new piece", **changes) -> dict:
    """A Mastodon status with one image; ``changes`` override its fields."""
    return {
        "id": str(number),
        "url": f"https://example.social/@bot/{number}",
        "created_at": f"2026-03-01T10:{number:02d}:00Z",
        "account": {"id": "7", "acct": "bot@example.social", "display_name": "Bot"},
        "content": f"<p>{text}</p>",
        "tags": [{"name": "aiart"}],
        "media_attachments": [{"type": "image", "url": f"https://files.example/{number}.png"}],
        **changes,
    }


def timeline(statuses, **headers) -> dict:
    return {"path": TIMELINE, "headers": {**JSON, **headers}, "body": json.dumps(statuses)}


def crawl_mastodon(entries, settings=None):
    with ReplayServer(entries=entries) as server:
        result = run_spider(MastodonSpider, settings, base_url=server.base, tags="aiart")
    assert server.unexpected == []
    return result


# -- URLs a response chose --------------------------------------------------------------------


def test_a_next_link_to_a_private_address_is_not_followed():
    with Hostile() as hostile:
        next_link = f'<{hostile.base}{TIMELINE}&max_id=1>; rel="next"'
        result = crawl_mastodon([timeline([status(2)], Link=next_link)])
    assert hostile.requests == []
    assert [item["post_id"] for item in result.items] == ["2"]
    assert result.stats["artwatch/drops/private_address"] == 1
    assert result.stats["artwatch/mastodon/bad_response/refused_url"] == 1
    assert result.log_lines(f"{HOSTILE_ADDRESS}:{hostile.port}", "WARNING")
    assert result.cursors == {}  # the walk did not finish: the next run tries again


def test_a_redirect_of_a_listing_to_a_private_address_is_refused():
    with Hostile() as hostile:
        page = timeline([status(2)], Link='<{base}/next>; rel="next"')
        redirect = {"path": "/next", "status": 302, "headers": {"Location": hostile.base + "/"}}
        result = crawl_mastodon([page, redirect])
    assert hostile.requests == []
    assert [item["post_id"] for item in result.items] == ["2"]
    assert result.stats["artwatch/drops/private_address"] == 1


def test_robots_txt_redirecting_to_a_private_address_is_refused():
    # An image host (allowed here) whose robots.txt redirects inward: Scrapy's robots.txt
    # request carries no mark of its own, so only a guard on every request stops it.
    with Hostile() as hostile:
        entries = [
            {"path": "/robots.txt", "status": 302, "headers": {"Location": hostile.base + "/"}},
            {"path": "/image.png", "headers": {"Content-Type": "image/png"}, "body": "png"},
        ]
        with ReplayServer(entries=entries) as server:
            result = run_spider(
                FetchSpider, {"ROBOTSTXT_OBEY": True}, url=server.base + "/image.png"
            )
    assert hostile.requests == []
    assert result.stats["artwatch/drops/private_address"] == 1
    assert result.items == [{"status": 200}]  # no robots.txt: Scrapy allows the request


FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>art</title>
  <link rel="next" href="{next}"/>
  <entry>
    <id>{id}</id><title>{title}</title><updated>2026-03-01T10:00:00Z</updated>
    <link href="https://example.social/{id}"/>
    <link rel="enclosure" type="image/png" href="https://files.example/{id}.png"/>
  </entry>
</feed>
"""


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the project's settings: the guard refuses the scheme before any handler
        {"DOWNLOADER_MIDDLEWARES": {"pipelines.netguard.PrivateAddressGuard": None}},
    ],
    ids=["guard", "download-handlers-alone"],
)
def test_an_atom_next_link_to_a_local_file_is_not_read(tmp_path, settings):
    secret = tmp_path / "secret.xml"
    secret.write_text(FEED.format(next="", id="local-secret", title="SECRET FILE CONTENT"))
    page = FEED.format(next=secret.as_uri(), id="public", title="a public post")
    entries = [
        {"path": "/feed.xml", "headers": {"Content-Type": "application/atom+xml"}, "body": page}
    ]
    with ReplayServer(entries=entries) as server:
        result = run_spider(RssSpider, settings, feeds=f"{server.base}/feed.xml")
    assert [item["post_id"] for item in result.items] == ["public"]
    assert "SECRET" not in json.dumps(result.items)
    refused = result.stats.get("artwatch/drops/unsupported_scheme", 0)
    refused += result.stats.get("artwatch/rss/bad_response/network", 0)
    assert refused == 1
    assert result.log_lines(secret.as_uri())


# -- the address connected to -----------------------------------------------------------------


class FetchSpider(scrapy.Spider):
    name = "fetch"

    async def start(self):
        # Marked as the images stage marks its requests.
        meta = {"untrusted_url": True}
        yield scrapy.Request(self.url, callback=self.parse, errback=self.failed, meta=meta)

    def parse(self, response):
        yield {"status": response.status}

    def failed(self, failure):
        self.logger.info("fetch failed: %r", failure.value)


def scripted_dns(monkeypatch, answers: list[str]):
    """Boundary mock (no DNS server or /etc/hosts is ours to change): ``rebind.test`` answers
    ``answers`` in turn, the last one from then on; other names resolve as usual. Both the
    guard (``socket.getaddrinfo`` via asyncio) and Twisted's resolver below ask it."""
    real = socket.getaddrinfo
    lock, calls = threading.Lock(), []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        with lock:
            calls.append(host)
            address = answers[min(len(calls), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return getaddrinfo


def crawl_with_resolver(resolver_factory, url):
    """A crawl with ``resolver_factory(reactor)`` installed as the reactor's name resolver,
    as ``scrapy crawl`` installs ``TWISTED_DNS_RESOLVER``; the previous one comes back after."""
    reactor = _reactor()

    def install():
        previous = reactor.nameResolver
        reactor.installNameResolver(resolver_factory(reactor))
        return previous

    previous = blockingCallFromThread(reactor, install)
    try:
        settings = {"DOWNLOADER_MIDDLEWARES": {"pipelines.netguard.PrivateAddressGuard": 50}}
        return run_spider(FetchSpider, settings, url=url)
    finally:
        blockingCallFromThread(reactor, reactor.installNameResolver, previous)


def test_dns_rebinding_reaches_nothing_because_the_connection_is_checked(monkeypatch):
    lookup = scripted_dns(monkeypatch, ["93.184.215.14", HOSTILE_ADDRESS])

    def guarded(reactor):
        resolver = GuardedResolver(reactor, cache_size=0, allow=["127.0.0.1"])
        resolver.original_resolver = GAIResolver(reactor, getaddrinfo=lookup)
        return resolver

    with Hostile() as hostile:
        result = crawl_with_resolver(guarded, f"http://rebind.test:{hostile.port}/image.png")
    assert hostile.requests == []
    assert result.items == []
    assert result.log_lines(f"rebind.test resolves to non-public address {HOSTILE_ADDRESS}")
    # The connection got no address to open: Scrapy saw a failed lookup, not a response.
    assert result.stats["downloader/exception_type_count/scrapy.exceptions.CannotResolveHostError"]


def test_without_the_connection_check_the_same_rebinding_reaches_the_internal_server(
    monkeypatch,
):
    # The control for the test above: the name check alone is fooled by the same answers.
    lookup = scripted_dns(monkeypatch, ["93.184.215.14", HOSTILE_ADDRESS])
    with Hostile() as hostile:
        result = crawl_with_resolver(
            lambda reactor: GAIResolver(reactor, getaddrinfo=lookup),
            f"http://rebind.test:{hostile.port}/image.png",
        )
    assert hostile.requests == ["/image.png"]
    assert result.items == [{"status": 200}]


@pytest.mark.parametrize(
    ("allow", "middlewares"),
    [
        ("127.0.0.1", "{}"),  # the URL guard off: the resolver alone refuses 127.0.0.2
        ("", None),  # nothing allowed: the configured instance is trusted, its link is not
    ],
    ids=["resolver-alone", "trusted-instance"],
)
def test_scrapy_crawl_connects_only_to_checked_addresses(tmp_path, allow, middlewares):
    # A real `scrapy crawl` process, which installs TWISTED_DNS_RESOLVER.
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("MONGODB_URI",)},
        "ARTWATCH_DATA_DIR": str(tmp_path / "var"),
        "ARTWATCH_ALLOW_PRIVATE_HOSTS": allow,
    }
    out = tmp_path / "out.jsonl"
    with Hostile() as hostile:
        next_link = f'<{hostile.base}{TIMELINE}&max_id=1>; rel="next"'
        with ReplayServer(entries=[timeline([status(2)], Link=next_link)]) as server:
            command = [sys.executable, "-m", "scrapy", "crawl", "mastodon", "-a", "tags=aiart"]
            command += ["-a", f"base_url={server.base}", "-s", "ARTWATCH_STORE=none"]
            command += ["-s", "ROBOTSTXT_OBEY=False", "-s", "RETRY_ENABLED=False"]
            command += ["-s", f"DOWNLOADER_MIDDLEWARES={middlewares}"] if middlewares else []
            command += ["-O", str(out)]
            result = subprocess.run(
                command,
                cwd=PROJECT_ROOT,
                env=environment,
                capture_output=True,
                text=True,
                timeout=180,
            )
    assert result.returncode == 0, result.stderr[-2000:]
    assert hostile.requests == []
    assert f"resolves to non-public address {HOSTILE_ADDRESS}" in result.stderr
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [item["post_id"] for item in exported] == ["2"]


def test_the_project_installs_the_guarded_resolver():
    assert PROJECT_SETTINGS["TWISTED_DNS_RESOLVER"] == "pipelines.netguard.GuardedResolver"
    handlers = PROJECT_SETTINGS["DOWNLOAD_HANDLERS"]
    assert {scheme for scheme, handler in handlers.items() if handler is None} >= {
        "file",
        "data",
        "ftp",
        "s3",
    }


# -- oversized listings -----------------------------------------------------------------------


def test_a_listing_larger_than_a_few_mb_is_refused_and_counted():
    padding = "x" * (9 * 1024 * 1024)  # above the 8 MB DOWNLOAD_MAXSIZE for listings
    result = crawl_mastodon([timeline([status(2, padding)])])
    assert result.items == []
    assert result.stats["artwatch/mastodon/bad_response/too_large"] == 1
    assert result.log_lines("/api/v1/timelines/tag/aiart", "WARNING")
    assert result.cursors == {}


# -- malformed entries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("deep", "too_deep"),
        ({"tags": [{"name": 5}]}, "bad_tags"),
        ({"media_attachments": [{"type": "image", "url": 12345}]}, "bad_image_url"),
        ({"created_at": "2026-02-30T10:00:00Z"}, "bad_date"),
    ],
    ids=["deeply-nested", "numeric-tag", "numeric-image-url", "impossible-date"],
)
def test_a_malformed_entry_costs_only_itself(bad, reason):
    if bad == "deep":
        body = json.dumps([status(3), {**status(2), "poll": "DEEP"}, status(1)])
        body = body.replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
        page = {"path": TIMELINE, "headers": JSON, "body": body}
    else:
        page = timeline([status(3), status(2, **bad), status(1)])
    result = crawl_mastodon([page])
    assert [item["post_id"] for item in result.items] == ["3", "1"]
    assert result.stats[f"artwatch/mastodon/bad_entry/{reason}"] == 1
    assert result.log_lines(f"{reason}: entry skipped", "INFO")
    assert result.cursors == {"mastodon:" + result.items[0]["instance"] + ":aiart": "3"}
    check_invariants(result)


def test_every_platform_spider_parses_entries_through_the_base_guard():
    # The guard lives once, in the base: no platform module overrides the walk around it.
    loader = SpiderLoader.from_settings(Settings(PROJECT_SETTINGS))
    spiders = [loader.load(name) for name in loader.list()]
    assert MastodonSpider in spiders and RssSpider in spiders
    for spider in spiders:
        for method in ("_on_listing", "_entry", "_on_detail", "_item"):
            assert getattr(spider, method) is getattr(PlatformSpider, method), (spider, method)
