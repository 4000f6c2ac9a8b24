"""The Lofter spider against reconstructed TagBean.search.dwr answers (see the READMEs)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from crawler.spiders.lofter import LofterSpider, read_dwr
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "lofter"
COOKIE = {"ARTWATCH_CREDENTIALS": {"LOFTER_COOKIE": SecretStr("LOFTER_SESS=invented-test-session")}}


def test_tag_posts_come_at_original_size_and_the_offset_pages():
    with ReplayServer(CASES / "tag") as server:
        result = run_spider(LofterSpider, COOKIE, tags="AI绘画", base_url=server.base)
    assert server.unexpected == []
    check_expected(CASES / "tag", result, server.base)
    first, second = server.requests
    assert b"c0-param0=string%3Aai%E7%BB%98%E7%94%BB" in first.body
    assert b"c0-param7=number%3A0" in first.body and b"c0-param7=number%3A20" in second.body
    assert len(result.items) == 20  # 21 posts, one of them video only
    newest = max(result.items, key=lambda item: item["created_at"])
    assert newest["image_urls"] == [
        "https://imglf3.lf127.net/img/SW52ZW50ZWQwMQ.png",
        "https://imglf3.lf127.net/img/SW52ZW50ZWQwMg.jpg",
    ]
    assert newest["ai_evidence"] == ["text:ai绘画", "tag:ai绘画"]
    assert newest["text"] == "今天的练习\nStable Diffusion"
    watercolour = next(item for item in result.items if "水彩" in item["tags"])
    assert watercolour["ai_labeled"] is False
    assert watercolour["image_urls"] == ["https://imglf3.lf127.net/img/SW52ZW50ZWQwMw.png"]
    assert result.artwatch_stats()["artwatch/lofter/bad_response/video_only"] == 1


def test_an_exception_reply_ends_the_crawl_as_a_login_wall():
    with ReplayServer(CASES / "login_wall") as server:
        result = run_spider(LofterSpider, tags="AI绘画", base_url=server.base)
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["finish_reason"] == "lofter_login_wall"
    assert result.log_lines("set LOFTER_COOKIE")


def test_dwr_values_reference_earlier_variables_and_unescape_strings():
    script = (
        '//#DWR-REPLY\nvar s0=[];var s1={};s1.name="\\u753b \\"x\\"";s1.at=new Date(5);'
        "s1.list=[1,-2.5,true,null];s1.self={a:'b'};s0[0]=s1;"
        "dwr.engine._remoteHandleCallback('1','0',s0);"
    )
    assert read_dwr(script) == (
        "callback",
        [{"name": '画 "x"', "at": 5, "list": [1, -2.5, True, None], "self": {"a": "b"}}],
    )


@pytest.mark.parametrize(
    "script",
    ["var s0=[];s0[0]=window.open;dwr.engine._remoteHandleCallback('1','0',s0);", "var s0=[];"],
)
def test_dwr_outside_the_dialect_is_refused(script):
    with pytest.raises((ValueError, KeyError)):
        read_dwr(script)
