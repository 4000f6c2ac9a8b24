"""The DeviantArt spider: the RSS tag search and the OAuth browse/tags API (invented shapes)."""

from __future__ import annotations

from pydantic import SecretStr

from crawler.spiders.deviantart import DeviantartSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "deviantart"
CREDENTIALS = {
    "DEVIANTART_CLIENT_ID": "12345",
    "DEVIANTART_CLIENT_SECRET": SecretStr("not-a-real-secret"),
}


def test_rss_search_pages_and_labels_by_keyword():
    with ReplayServer(CASES / "rss_paging") as server:
        result = run_spider(DeviantartSpider, base_url=server.base, tags="aiart")
    assert server.unexpected == []
    check_expected(CASES / "rss_paging", result, server.base)
    items = {item["post_id"]: item for item in result.items}
    assert set(items) == {"1100000002", "1099999990"}
    assert items["1100000002"]["image_urls"] == [
        "https://images-wixmp.example/f/aaa/full/neon-harbour.jpg"
    ]
    assert items["1100000002"]["author_name"] == "pixelkoi"
    assert items["1100000002"]["ai_evidence"] == ["tag:aiart", "tag:aiartwork"]
    assert items["1099999990"]["ai_labeled"] is False
    assert result.stats["artwatch/deviantart/bad_response/no_images"] == 1
    assert result.stats["artwatch/deviantart/pages"] == 2


def test_oauth_browse_tags_pages_through_the_cursor():
    settings = {"ARTWATCH_CREDENTIALS": CREDENTIALS}
    with ReplayServer(CASES / "oauth") as server:
        result = run_spider(DeviantartSpider, settings, base_url=server.base, tags="aiart")
    assert server.unexpected == []
    check_expected(CASES / "oauth", result, server.base)
    assert b"grant_type=client_credentials" in server.requests[0].body
    assert sorted(item["post_id"] for item in result.items) == ["1100000010", "1100000012"]
    key = f"deviantart:{server.base.removeprefix('http://')}:aiart"
    assert result.cursors == {key: "1795600000"}


def test_refused_token_names_the_credentials_and_a_403_block_is_reported():
    settings = {"ARTWATCH_CREDENTIALS": CREDENTIALS}
    with ReplayServer(CASES / "oauth_refused") as server:
        result = run_spider(DeviantartSpider, settings, base_url=server.base, tags="aiart")
    assert server.unexpected == []
    check_expected(CASES / "oauth_refused", result, server.base)
    assert result.items == [] and result.cursors == {}
    (token_line,) = result.log_lines("http_401", "WARNING")
    assert "check DEVIANTART_CLIENT_ID / DEVIANTART_CLIENT_SECRET (set, but refused)" in token_line
    (block_line,) = result.log_lines("http_403", "WARNING")
    assert "/rss.xml" in block_line and "blocked" in block_line
