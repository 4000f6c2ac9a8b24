"""The Bluesky spider: the session path (searchPosts) and the anonymous path (getFeed)."""

from __future__ import annotations

import json

from pydantic import SecretStr

from crawler.spiders.bluesky import BlueskySpider
from tests.replay import FIXTURES, PROJECT_SETTINGS, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "bluesky"
FEED = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/bsky-team"
CREDENTIALS = {
    "BLUESKY_HANDLE": "artwatch-test.bsky.social",
    "BLUESKY_APP_PASSWORD": SecretStr("abcd-efgh-ijkl-mnop"),
}


def _settings(credentials=None, feeds=()):
    platforms = dict(PROJECT_SETTINGS["ARTWATCH_PLATFORMS"])
    platforms["bluesky"] = {**platforms.get("bluesky", {}), "download_delay": 0, "feeds": feeds}
    return {"ARTWATCH_CREDENTIALS": credentials or {}, "ARTWATCH_PLATFORMS": platforms}


def test_search_logs_in_and_pages_through_the_cursor():
    with ReplayServer(CASES / "search") as server:
        result = run_spider(
            BlueskySpider, _settings(CREDENTIALS), base_url=server.base, tags="aiart"
        )
    assert server.unexpected == []
    check_expected(CASES / "search", result, server.base)
    login = server.requests[0]
    assert login.method == "POST" and b'"identifier": "artwatch-test.bsky.social"' in login.body
    assert result.stats["artwatch/bluesky/pages"] == 2
    # recordWithMedia posts (a quote with an image) count as image posts.
    quote = next(i for i in result.items if i["post_id"].endswith("/3loagm2phgk2t"))
    assert quote["image_urls"][0].endswith(
        "/bafkreiddvkgel6hcfrwzkcm3l2tclrhryrlmcczhxigwkcowi37wt5a5by@jpeg"
    )
    # The cursor is the newest indexedAt seen, a text-only post included.
    key = f"bluesky:{server.base.removeprefix('http://')}:aiart"
    assert result.cursors == {key: "2025-05-19T17:10:09.813Z"}


def test_refused_login_names_the_credentials_and_ends_cleanly():
    with ReplayServer(CASES / "login_refused") as server:
        result = run_spider(
            BlueskySpider, _settings(CREDENTIALS), base_url=server.base, tags="aiart"
        )
    assert server.unexpected == []
    check_expected(CASES / "login_refused", result, server.base)
    assert len(server.requests) == 1
    assert result.items == [] and result.cursors == {}
    assert result.stats["artwatch/bluesky/bad_response/http_401"] == 1
    (line,) = result.log_lines("http_401", "WARNING")
    assert "check BLUESKY_HANDLE / BLUESKY_APP_PASSWORD (set, but refused)" in line


def test_without_credentials_or_feeds_it_says_what_is_missing():
    with ReplayServer(CASES / "login_refused") as server:
        result = run_spider(BlueskySpider, _settings(), base_url=server.base, tags="aiart")
    assert server.requests == []
    assert result.stats["artwatch/bluesky/bad_response/missing_credentials"] == 1
    assert result.log_lines("set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD", "WARNING")


def test_public_feed_needs_no_session_and_stops_at_max_pages():
    with ReplayServer(CASES / "feed_anonymous") as server:
        result = run_spider(
            BlueskySpider, _settings(feeds=[FEED]), base_url=server.base, max_pages="1"
        )
    assert server.unexpected == []
    check_expected(CASES / "feed_anonymous", result, server.base)
    assert "authorization" not in server.requests[0].headers
    assert len(result.items) == 2
    assert {item["query"] for item in result.items} == {FEED}
    assert list(result.cursors.values()) == ["2025-05-19T17:05:19.920Z"]


def test_an_unreachable_login_server_is_reported_without_a_traceback():
    settings = {**_settings(CREDENTIALS), "RETRY_ENABLED": False}
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    result = run_spider(BlueskySpider, settings, base_url="http://127.0.0.1:1", tags="aiart")
    assert result.stats["artwatch/bluesky/bad_response/network"] == 1
    assert result.stats["finish_reason"] == "finished"
    assert result.log_lines("the login failed", "WARNING")
    assert not result.log_lines("TRACEBACK")


def test_an_author_feed_is_walked_past_posts_older_than_the_stored_cursor():
    feed = "at://chriskenny.bsky.social"
    with ReplayServer(CASES / "author_feed") as server:
        key = f"bluesky:{server.base.removeprefix('http://')}:{feed}"
        result = run_spider(
            BlueskySpider,
            _settings(feeds=[feed]),
            cursors={key: "2025-04-01T00:00:00Z"},
            base_url=server.base,
        )
    assert server.unexpected == []
    check_expected(CASES / "author_feed", result, server.base)
    assert len(server.requests) == 2  # the second page too: no early stop on old markers
    ids = {item["post_id"].rsplit("/", 1)[-1] for item in result.items}
    feed_body = json.loads((CASES / "recorded" / "getAuthorFeed_chriskenny.json").read_text())
    reposted = [e["post"] for e in feed_body["feed"] if e.get("reason")]
    repost_with_images = next(
        p for p in reposted if "images" in p.get("embed", {}).get("$type", "")
    )
    assert repost_with_images["indexedAt"] < "2025-04-01"
    assert repost_with_images["uri"].rsplit("/", 1)[-1] in ids
    assert "artwatch/bluesky/posts_older_than_cutoff" not in result.stats
    assert result.cursors == {key: "2025-05-05T01:30:18.253Z"}
