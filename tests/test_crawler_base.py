"""The spider base and the rate-limit middleware, through real crawls of a small probe spider."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import scrapy
from scrapy.http import Response

from crawler.middlewares import wait_seconds
from crawler.spiders.base import Page, PlatformSpider, Post
from crawler.spiders.mastodon import MastodonSpider
from tests.replay import PROJECT_SETTINGS, ReplayServer, check_invariants, run_spider

JSON = {"Content-Type": "application/json"}


class ProbeSpider(PlatformSpider):
    """A minimal platform: ``/list/<tag>`` pages of posts, some completed by ``/post/<id>``."""

    name = "probe"
    default_base_url = "http://127.0.0.1:9"

    def listing_request(self, walk, cursor):
        return scrapy.Request(cursor or f"{walk.base_url}/list/{walk.query}")

    def parse_listing(self, response, walk):
        data = self.json(response)
        return Page(data["posts"], response.urljoin(data["next"]) if data.get("next") else None)

    def parse_entry(self, entry, walk, response):
        post = Post(
            post_id=entry["id"],
            url=f"https://probe.example/{entry['id']}",
            created_at=entry["date"],
            marker=entry["id"],
            tags=entry.get("tags", []),
            image_urls=entry.get("images", []),
        )
        if entry.get("detail"):
            post.detail = scrapy.Request(response.urljoin(f"/post/{entry['id']}"))
        return post

    def parse_post(self, response, post):
        post.image_urls = self.json(response)["images"]
        return post


def _page(posts, next_url=None, path="/list/art", **extra):
    body = json.dumps({"posts": posts, "next": next_url})
    return {"method": "GET", "path": path, "status": 200, "headers": JSON, "body": body, **extra}


def _crawl(entries, settings=None, **args):
    with ReplayServer(entries=entries) as server:
        result = run_spider(ProbeSpider, settings, base_url=server.base, **args)
    assert server.unexpected == []
    check_invariants(result)
    return server, result


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value"),
    [("max_pages", "0"), ("max_pages", "many"), ("since", "last tuesday"), ("base_url", "ftp://x")],
)
def test_a_bad_argument_is_named(argument, value):
    with pytest.raises(ValueError, match=f"argument {argument}="):
        MastodonSpider(**{argument: value})


def test_a_crawl_with_nothing_to_search_says_so():
    _, result = _crawl([])
    assert result.stats["artwatch/probe/nothing_to_crawl"] == 1
    assert result.log_lines("platforms.probe", "WARNING")


def test_tags_are_split_lower_cased_and_stripped_of_hashes():
    spider = MastodonSpider(tags=" #AIart, aiart,StableDiffusion ,,")
    assert spider.tags == ["aiart", "stablediffusion"]


def test_defaults_and_politeness_come_from_the_platform_config():
    from scrapy.utils.test import get_crawler

    platforms = {
        "mastodon": {
            "tags": ["AIart"],
            "base_urls": ["https://a.example/"],
            "download_delay": 2.5,
            "concurrency": 1,
        }
    }
    crawler = get_crawler(MastodonSpider, {**PROJECT_SETTINGS, "ARTWATCH_PLATFORMS": platforms})
    spider = MastodonSpider.from_crawler(crawler)
    assert spider.tags == ["aiart"]
    assert spider.base_urls == ["https://a.example"]
    assert spider.max_pages == MastodonSpider.default_max_pages
    assert crawler.settings.getfloat("DOWNLOAD_DELAY") == 2.5
    assert crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1
    assert crawler.settings["DOWNLOADER_MIDDLEWARES"][
        "crawler.middlewares.RateLimitRetryMiddleware"
    ]


# -- walks -----------------------------------------------------------------------------------


def test_detail_requests_complete_posts_and_the_cursor_comes_after_them():
    posts = [
        {"id": "30", "date": "2026-11-20T10:00:00+02:00", "detail": True, "tags": ["#AIArt"]},
        {"id": "20", "date": "2026-11-19T10:00:00Z", "images": ["/img/20.png", "/img/20.png"]},
    ]
    detail = {"images": ["https://cdn.example/30.png"]}
    server, result = _crawl(
        [
            _page(posts),
            {"method": "GET", "path": "/post/30", "headers": JSON, "body": json.dumps(detail)},
        ],
        tags="art",
    )
    items = {item["post_id"]: item for item in result.items}
    assert items["30"]["image_urls"] == ["https://cdn.example/30.png"]
    assert items["30"]["created_at"] == "2026-11-20T08:00:00Z"
    assert items["30"]["ai_evidence"] == ["tag:aiart"] and items["30"]["ai_labeled"] is True
    assert items["20"]["image_urls"] == [f"{server.base}/img/20.png"]
    assert list(result.cursors.values()) == ["30"]
    assert result.order[-1][0] == "cursor"


def test_a_failed_detail_request_leaves_the_cursor_where_it_was():
    posts = [
        {"id": "31", "date": "2026-11-20T10:00:00Z", "detail": True},
        {"id": "21", "date": "2026-11-19T10:00:00Z", "images": ["https://cdn.example/21.png"]},
    ]
    _, result = _crawl(
        [_page(posts), {"method": "GET", "path": "/post/31", "status": 404}], tags="art"
    )
    assert [item["post_id"] for item in result.items] == ["21"]
    assert result.cursors == {}
    assert result.stats["artwatch/probe/bad_response/http_404"] == 1


def test_max_pages_ends_the_walk_and_a_broken_entry_does_not_end_the_page(tmp_path):
    page1 = [{"id": "9", "date": "2026-11-20T00:00:00Z", "images": ["https://c.example/9.png"]}]
    page2 = [
        {"id": "8"},  # no date: a shape the parser does not expect
        {"id": "7", "date": "2026-11-19T00:00:00Z", "images": ["https://c.example/7.png"]},
    ]
    _, result = _crawl(
        [
            _page(page1, "/list/art?page=2"),
            _page(page2, "/list/art?page=3", path="/list/art?page=2"),
        ],
        tags="art",
        max_pages="2",
    )
    assert sorted(item["post_id"] for item in result.items) == ["7", "9"]
    assert result.stats["artwatch/probe/bad_entry/unexpected_shape"] == 1
    assert list(result.cursors.values()) == ["9"]


def test_since_and_a_stored_cursor_both_stop_the_walk():
    posts = [
        {"id": "12", "date": "2026-11-20T00:00:00Z", "images": ["https://c.example/12.png"]},
        {"id": "11", "date": "2026-11-10T00:00:00Z", "images": ["https://c.example/11.png"]},
    ]
    entries = [_page(posts, "/list/art?page=2")]
    _, by_since = _crawl(entries, tags="art", since="2026-11-15")
    assert [item["post_id"] for item in by_since.items] == ["12"]
    with ReplayServer(entries=entries) as server:
        key = f"probe:{server.base.removeprefix('http://')}:art"
        by_cursor = run_spider(ProbeSpider, cursors={key: "11"}, base_url=server.base, tags="art")
    assert server.unexpected == []
    assert [item["post_id"] for item in by_cursor.items] == ["12"]
    assert by_cursor.cursors == {key: "12"}


# -- rate limits -------------------------------------------------------------------------------


def test_503_with_retry_after_waits_and_then_continues():
    posts = [{"id": "5", "date": "2026-11-20T00:00:00Z", "images": ["https://c.example/5.png"]}]
    busy = {"method": "GET", "path": "/list/art", "status": 503, "times": 1}
    busy["headers"] = {"Retry-After": "1", "Content-Type": "text/html"}
    server, result = _crawl([busy, _page(posts)], tags="art")
    assert [item["post_id"] for item in result.items] == ["5"]
    assert len(server.requests) == 2
    assert result.stats["artwatch/ratelimit/http_503"] == 1
    assert result.stats["artwatch/ratelimit/wait_seconds"] == pytest.approx(1.0, abs=0.01)


def test_retries_are_capped_and_then_the_walk_reports_the_status():
    limited = {"method": "GET", "path": "/list/art", "status": 429}
    limited["headers"] = {"RateLimit-Reset": "0.1", "Content-Type": "application/json"}
    server, result = _crawl([limited], {"ARTWATCH_RATELIMIT_RETRIES": 2}, tags="art")
    assert len(server.requests) == 3
    assert result.stats["artwatch/ratelimit/gave_up"] == 1
    assert result.stats["artwatch/probe/bad_response/http_429"] == 1
    assert result.cursors == {}


def test_an_exhausted_window_pauses_before_the_next_request():
    posts = [{"id": "6", "date": "2026-11-20T00:00:00Z", "images": ["https://c.example/6.png"]}]
    page = _page(posts)
    page["headers"] = {**JSON, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0.5"}
    _, result = _crawl([page], tags="art")
    assert result.stats["artwatch/ratelimit/window_exhausted"] == 1
    assert result.stats["artwatch/ratelimit/wait_seconds"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120),
        ({"Retry-After": "Thu, 26 Nov 2026 12:02:00 GMT"}, 120),
        ({"RateLimit-Reset": "30"}, 30),
        ({"X-RateLimit-Reset": str(1795694520)}, 120),  # epoch seconds (Reddit sends a delta)
        ({"X-RateLimit-Reset": "2026-11-26T12:05:00.000Z"}, 300),  # Mastodon's ISO time
        ({"X-RateLimit-Reset": "2026-11-26T11:00:00Z"}, 0),  # already past: no wait
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_wait_seconds_reads_every_header_shape(headers, expected):
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()
    response = Response("https://x.example/", status=429, headers=headers)
    assert wait_seconds(response, now=now) == expected
