"""The reddit spider against recorded oauth.reddit.com responses served by the replay server."""

from __future__ import annotations

import json

import pytest

from crawler.spiders.reddit import RedditSpider, ai_evidence
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASE = FIXTURES / "reddit" / "subreddits"
CREDENTIALS = {
    "ARTWATCH_CREDENTIALS": {
        "REDDIT_CLIENT_ID": "test-client-id",
        "REDDIT_CLIENT_SECRET": "test-client-secret",
    }
}
SUBREDDITS = "aiArt,ferguson,pics,art,blank"
PAGES = [json.loads((CASE / f"listing_page{n}.json").read_text()) for n in (1, 2)]


@pytest.fixture(scope="module")
def crawl():
    with ReplayServer(CASE) as server:
        result = run_spider(RedditSpider, CREDENTIALS, tags=SUBREDDITS, base_url=server.base)
    return server, result


def test_matches_expected_and_every_bad_subreddit_is_counted(crawl):
    server, result = crawl
    assert server.unexpected == []
    check_expected(CASE, result, server.base)
    stats = result.artwatch_stats()
    for kind in ("http_403", "html_instead_of_json", "invalid_json", "empty_body"):
        assert stats[f"artwatch/reddit/bad_response/{kind}"] == 1, kind
    assert stats["artwatch/ratelimit/http_429"] == 1
    # Page 2 says 4 requests are left for 1 s: the crawl paces itself instead of spending them.
    assert stats["artwatch/ratelimit/window_low"] == 1


def test_token_is_fetched_once_with_basic_auth_and_sent_as_bearer(crawl):
    server, _ = crawl
    token_requests = [r for r in server.requests if r.path == "/api/v1/access_token"]
    assert len(token_requests) == 1
    assert token_requests[0].method == "POST"
    assert token_requests[0].body == b"grant_type=client_credentials"
    listings = [r for r in server.requests if r.path.startswith("/r/")]
    assert listings
    assert all(r.headers["authorization"] == "bearer INVENTED-app-only-token" for r in listings)


def test_only_clean_walks_leave_a_cursor_and_videos_never_become_items(crawl):
    server, result = crawl
    host = server.base.removeprefix("http://")
    # aiart finished (page 2 has after=null); the others failed and must be retried next run.
    assert list(result.cursors) == [f"reddit:{host}:aiart"]
    listed = [child["data"]["id"] for page in PAGES for child in page["data"]["children"]]
    assert result.cursors[f"reddit:{host}:aiart"] == str(max(int(i, 36) for i in listed))
    ids = {item["post_id"] for item in result.items}
    assert "1khu9tf" not in ids  # a gallery whose media are all still "unprocessed"
    assert result.artwatch_stats()["artwatch/reddit/bad_response/video_only"] >= 24


def test_ai_labels_come_from_subreddit_flair_and_title_tags(crawl):
    _, result = crawl
    koi = next(item for item in result.items if item["post_id"] == "1kgzz01")
    assert koi["ai_labeled"] is True
    assert koi["ai_evidence"] == [
        "subreddit:aiart",
        "flair:image - midjourney",
        "title:[midjourney]",
        "tag:aiart",
    ]
    assert koi["image_urls"] == ["https://i.redd.it/invented0koi1.jpeg"]
    unlabeled = [item for item in result.items if item["extra"]["subreddit"] != "aiArt"]
    assert unlabeled
    assert not any(item["ai_labeled"] for item in unlabeled)


def test_galleries_yield_every_valid_source_in_gallery_order(crawl):
    _, result = crawl
    post = next(c["data"] for c in PAGES[0]["data"]["children"] if c["data"]["id"] == "1skad0l")
    order = [entry["media_id"] for entry in post["gallery_data"]["items"]]
    gallery = next(item for item in result.items if item["post_id"] == "1skad0l")
    assert gallery["image_urls"] == [post["media_metadata"][m]["s"]["u"] for m in order]
    assert len(gallery["image_urls"]) == len(order) > 1


def test_stored_cursor_stops_the_walk_before_older_posts():
    with ReplayServer(CASE) as server:
        key = f"reddit:{server.base.removeprefix('http://')}:aiart"
        result = run_spider(
            RedditSpider,
            CREDENTIALS,
            cursors={key: str(int("1skbyfv", 36))},
            tags="aiArt",
            base_url=server.base,
        )
    assert server.unexpected == []
    assert not [r for r in server.requests if "after=" in r.path]
    assert result.items
    assert all(int(item["post_id"], 36) > int("1skbyfv", 36) for item in result.items)


def test_missing_credentials_stop_before_any_request():
    with ReplayServer(CASE) as server:
        result = run_spider(RedditSpider, tags="aiArt", base_url=server.base)
    assert server.requests == []
    assert result.items == []
    assert result.stats["finish_reason"] == "missing_credentials"
    assert result.artwatch_stats() == {"artwatch/reddit/missing_credentials": 1}
    assert result.log_lines("REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")


@pytest.mark.parametrize(
    ("subreddit", "flair", "title", "expected"),
    [
        ("StableDiffusion", "", "Workflow", ["subreddit:stablediffusion"]),
        ("pics", "AI Art", "Sunset", ["flair:ai art"]),
        ("pics", "Painting", "Sunset (AI generated)", ["title:(ai generated)"]),
        ("pics", "Painting", "Why AI art worries me", []),
        ("pics", "Politics", "Said [after] the debate", []),
    ],
)
def test_ai_evidence_needs_a_label_not_a_mention(subreddit, flair, title, expected):
    assert ai_evidence(subreddit, flair, title) == expected


def test_refused_token_stops_before_any_listing(tmp_path):
    refused = {"method": "POST", "path": "/api/v1/access_token", "status": 401}
    refused["headers"] = {"content-type": "application/json"}
    refused["body"] = '{"message": "Unauthorized", "error": 401}'
    (tmp_path / "index.json").write_text(json.dumps([refused]), encoding="utf-8")
    with ReplayServer(tmp_path) as server:
        result = run_spider(RedditSpider, CREDENTIALS, tags="aiArt", base_url=server.base)
    assert server.unexpected == []
    assert [r.path for r in server.requests] == ["/api/v1/access_token"]
    assert result.stats["finish_reason"] == "credentials_refused"
    assert result.artwatch_stats() == {"artwatch/reddit/token_refused": 1}
    assert result.log_lines("check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")


QUIRKS = FIXTURES / "reddit" / "quirks"


@pytest.fixture(scope="module")
def quirks():
    with ReplayServer(QUIRKS) as server:
        result = run_spider(RedditSpider, CREDENTIALS, tags="aiArt", base_url=server.base)
    assert server.unexpected == []
    return server, result


def test_a_gallery_without_gallery_data_yields_its_unescaped_sources(quirks):
    server, result = quirks
    check_expected(QUIRKS, result, server.base)
    listing = json.loads((QUIRKS / "listing.json").read_text())
    gallery = listing["data"]["children"][0]["data"]
    assert gallery["gallery_data"] is None
    item = next(item for item in result.items if item["post_id"] == "1skh6dk")
    sources = [media["s"]["u"] for media in gallery["media_metadata"].values()]
    assert all("&amp;" in url for url in sources)
    assert item["image_urls"] == [url.replace("&amp;", "&") for url in sources]


def test_video_crossposts_removed_posts_and_link_previews_are_skipped_by_name(quirks):
    _, result = quirks
    assert [item["post_id"] for item in result.items] == ["1skh6dk"]
    stats = result.artwatch_stats()
    for reason in ("video_only", "removed", "external_link"):
        assert stats[f"artwatch/reddit/bad_response/{reason}"] == 1, reason
    assert not [key for key in stats if "unexpected" in key]
