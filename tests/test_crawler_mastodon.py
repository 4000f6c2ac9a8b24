"""The Mastodon spider against recorded Mastodon responses served by the replay server."""

from __future__ import annotations

from crawler.spiders.mastodon import MastodonSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "mastodon"


def _crawl(case: str, **kwargs):
    with ReplayServer(CASES / case) as server:
        result = run_spider(MastodonSpider, base_url=server.base, **kwargs)
    assert server.unexpected == []
    return server, result


def test_pages_through_link_headers_to_the_end():
    server, result = _crawl("paging", tags="aiart", max_pages="5")
    snap = check_expected(CASES / "paging", result, server.base)
    key = f"mastodon:{server.base.removeprefix('http://')}:aiart"
    assert result.cursors == {key: "117020576664345360"}
    assert result.stats["artwatch/mastodon/pages"] == 3
    assert result.stats["artwatch/mastodon/bad_response/video_only"] == 2
    assert result.stats["artwatch/mastodon/bad_response/no_images"] == 18
    # A remote attachment is fetched from its origin, not the local media proxy.
    assert "https://img.pawoo.net/media_attachments/files/000/233/726/original/" in str(snap)
    assert len(result.log_lines("video_only: post skipped", "INFO")) == 1


def test_stops_at_the_stored_cursor_without_asking_for_older_pages():
    with ReplayServer(CASES / "cursor") as server:
        key = f"mastodon:{server.base.removeprefix('http://')}:aiart"
        result = run_spider(
            MastodonSpider, cursors={key: "110447003454258227"}, base_url=server.base, tags="aiart"
        )
    assert server.unexpected == []
    check_expected(CASES / "cursor", result, server.base)
    assert [item["post_id"] for item in result.items] == ["117020576664345360"]
    assert result.cursors == {key: "117020576664345360"}
    assert result.stats["artwatch/mastodon/posts_older_than_cutoff"] == 2


def test_since_bounds_the_first_run():
    server, result = _crawl("since", tags="aiart", since="2024-01-01")
    check_expected(CASES / "since", result, server.base)
    assert len(server.requests) == 1
    assert all(item["created_at"] >= "2024-01-01" for item in result.items)


def test_bad_responses_are_counted_and_logged_once_and_the_crawl_goes_on():
    tags = "ratelimited,htmlerror,truncated,unauthorized,empty"
    server, result = _crawl("bad_responses", tags=tags)
    check_expected(CASES / "bad_responses", result, server.base)
    stats = result.stats
    assert stats["artwatch/ratelimit/http_429"] == 1
    assert stats["artwatch/mastodon/bad_response/html_instead_of_json"] == 1
    assert stats["artwatch/mastodon/bad_response/invalid_json"] == 1
    assert stats["artwatch/mastodon/bad_response/http_401"] == 1
    assert stats["artwatch/mastodon/empty_pages"] == 1
    # Only the walk that recovered from the 429 closes with a cursor.
    assert [key.rsplit(":", 1)[1] for key in result.cursors] == ["ratelimited"]
    assert {item["query"] for item in result.items} == {"ratelimited"}
    html_logs = result.log_lines("html_instead_of_json", "WARNING")
    assert len(html_logs) == 1 and "/tag/htmlerror" in html_logs[0]
    assert "needs no credentials" in result.log_lines("http_401")[0]
