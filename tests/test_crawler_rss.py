"""The RSS/Atom spider against invented feeds served by the replay server."""

from __future__ import annotations

from crawler.spiders.rss import RssSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "rss"


def test_mastodon_tag_feed_labels_only_posts_that_carry_the_ai_tag():
    with ReplayServer(CASES / "mastodon_tag") as server:
        result = run_spider(RssSpider, base_url=server.base, tags="#AIart")
    assert server.unexpected == []
    check_expected(CASES / "mastodon_tag", result, server.base)
    by_author = {item["url"].split("/")[3]: item for item in result.items}
    assert set(by_author) == {"@alice", "@bob"}
    assert by_author["@alice"]["ai_labeled"] is True
    assert by_author["@alice"]["ai_evidence"] == ["tag:aiart"]
    # Found through the #aiart feed, but the tag is not on the post: not labelled.
    assert by_author["@bob"]["ai_labeled"] is False
    assert len(by_author["@bob"]["image_urls"]) == 2
    assert result.stats["artwatch/rss/bad_response/video_only"] == 1
    assert result.stats["artwatch/rss/bad_response/no_images"] == 1
    assert list(result.cursors.values()) == ["2026-11-24T10:00:00Z"]


def test_atom_feed_pages_and_a_feed_that_answers_html_is_reported():
    with ReplayServer(CASES / "atom_paging") as server:
        feeds = f"{server.base}/feeds/art.atom,{server.base}/feeds/moved.rss"
        result = run_spider(RssSpider, feeds=feeds, tags="", since="2026-10-15")
    assert server.unexpected == []
    check_expected(CASES / "atom_paging", result, server.base)
    assert sorted(item["url"] for item in result.items) == [
        "https://art.example/posts/11",
        "https://art.example/posts/12",
    ]
    post12, post11 = sorted(result.items, key=lambda item: item["url"], reverse=True)
    assert post12["created_at"] == "2026-11-20T11:00:00Z"
    assert post12["ai_evidence"] == ["tag:stablediffusion"]
    assert post11["image_urls"] == [f"{server.base}/media/11-a.png", "https://cdn.example/11-b.png"]
    assert result.stats["artwatch/rss/pages"] == 3
    assert result.stats["artwatch/rss/posts_older_than_cutoff"] == 1
    assert result.stats["artwatch/rss/bad_response/not_a_feed"] == 1
    (line,) = result.log_lines("not_a_feed", "WARNING")
    assert "/feeds/moved.rss" in line and "<html>" in line
    assert list(result.cursors) == [
        f"rss:{server.base.removeprefix('http://')}:{feeds.split(',')[0]}"
    ]


def test_the_widest_rendition_of_a_media_group_and_of_a_srcset_is_taken():
    case = CASES / "renditions"
    with ReplayServer(case) as server:
        result = run_spider(RssSpider, feeds=f"{server.base}/feeds/renditions.rss", tags="")
    assert server.unexpected == []
    check_expected(case, result, server.base)
    images = {item["url"]: item["image_urls"] for item in result.items}
    assert images == {
        "https://art.example/posts/21": [
            "https://cdn.example/21-large.jpg",
            "https://cdn.example/22-only.png",
        ],
        "https://art.example/posts/20": ["https://cdn.example/20-1600.jpg"],
    }
