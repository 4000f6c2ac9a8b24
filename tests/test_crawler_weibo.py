"""The Weibo spider against reconstructed m.weibo.cn container answers (see the READMEs)."""

from __future__ import annotations

from pydantic import SecretStr

from crawler.spiders.weibo import WeiboSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "weibo"
COOKIE = {"ARTWATCH_CREDENTIALS": {"WEIBO_COOKIE": SecretStr("SUB=invented-test-cookie")}}


def test_realtime_search_takes_the_largest_pictures_and_follows_the_page():
    with ReplayServer(CASES / "search") as server:
        result = run_spider(WeiboSpider, COOKIE, tags="AI绘画", base_url=server.base)
    assert server.unexpected == []
    check_expected(CASES / "search", result, server.base)
    by_id = {item["post_id"]: item for item in result.items}
    assert sorted(by_id) == ["5100000000000001", "5199999999999990", "5200000000000003"]
    first = by_id["5200000000000003"]
    assert first["image_urls"] == [
        "https://wx1.sinaimg.cn/large/invented0aaa1.jpg",
        "https://wx1.sinaimg.cn/large/invented0aaa2.jpg",
    ]
    assert first["tags"] == ["ai绘画"] and first["ai_labeled"] is True
    assert first["created_at"] == "2026-11-28T02:00:00Z"
    # A repost stands for the original: its picture, its author; the reposter's words do not
    # make the original AI-labelled.
    original = by_id["5100000000000001"]
    assert original["author_name"] == "水彩画家" and original["ai_labeled"] is False
    assert original["extra"]["reposted_by"] == "7000000003"
    stats = result.artwatch_stats()
    assert stats["artwatch/weibo/bad_response/video_only"] == 1
    assert stats["artwatch/weibo/bad_response/deleted"] == 1
    assert not [key for key in stats if "bad_entry" in key or "unexpected" in key]
    host = server.base.removeprefix("http://")
    assert result.cursors == {f"weibo:{host}:ai绘画": "5200000000000003"}


def test_a_login_wall_ends_the_crawl_with_its_own_finish_reason():
    with ReplayServer(CASES / "login_wall") as server:
        result = run_spider(WeiboSpider, tags="AI绘画", base_url=server.base)
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["finish_reason"] == "weibo_login_wall"
    assert result.log_lines("set WEIBO_COOKIE")
