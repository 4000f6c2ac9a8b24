"""The pixiv spider against recorded and invented ajax responses served by the replay server."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from crawler.spiders.pixiv import PixivSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASE = FIXTURES / "pixiv" / "search"


@pytest.fixture(scope="module")
def crawl():
    with ReplayServer(CASE) as server:
        result = run_spider(
            PixivSpider,
            tags="AIイラスト,AI生成,blocked,truncated",
            base_url=server.base,
            since="2017-01-01",
        )
    return server, result


def _item(result, post_id):
    return next(item for item in result.items if item["post_id"] == post_id)


def test_matches_expected_and_counts_every_bad_answer(crawl):
    server, result = crawl
    assert server.unexpected == []
    check_expected(CASE, result, server.base)
    stats = result.artwatch_stats()
    assert stats["artwatch/pixiv/bad_response/error_envelope"] == 1
    assert stats["artwatch/pixiv/bad_response/html_instead_of_json"] == 1
    assert stats["artwatch/pixiv/bad_response/invalid_json"] == 1
    assert stats["artwatch/pixiv/bad_response/work_unavailable"] == 1
    assert result.log_lines("pixiv says: An unknown error occurred")


def test_ai_label_comes_from_aitype_and_tags_on_the_work_not_the_query(crawl):
    _, result = crawl
    generated = _item(result, "123456001")
    assert generated["ai_labeled"] is True
    assert generated["ai_evidence"] == ["label:aiType=2", "tag:novelaidiffusion", "tag:aiイラスト"]
    # Found by searching AIイラスト, but neither pixiv nor the author says it is AI.
    human = _item(result, "67729319")
    assert human["query"] == "aiイラスト"
    assert human["ai_labeled"] is False
    assert human["ai_evidence"] == []


def test_items_carry_originals_and_the_referer_images_need(crawl):
    _, result = crawl
    generated = _item(result, "123456001")
    assert generated["image_urls"] == [
        "https://i.pximg.net/img-original/img/2024/10/01/12/00/00/123456001_p0.png",
        "https://i.pximg.net/img-original/img/2024/10/01/12/00/00/123456001_p1.png",
    ]
    human = _item(result, "67729319")
    assert human["image_urls"] == [
        "https://i.pximg.net/img-original/img/2018/03/14/18/00/24/67729319_p0.jpg"
    ]
    assert human["created_at"] == "2018-03-14T09:00:00Z"
    assert all(
        item["extra"]["image_headers"] == {"Referer": "https://www.pixiv.net/"}
        for item in result.items
    )


def test_since_ends_the_walk_on_the_old_page_and_leaves_a_cursor(crawl):
    server, result = crawl
    paths = [unquote(r.path) for r in server.requests]
    # Sent as written (pixiv tags are case-sensitive), stored lower-cased in the cursor key.
    assert sum("/ajax/search/illustrations/AIイラスト?word=AIイラスト" in p for p in paths) == 2
    assert not [p for p in paths if "aiイラスト" in p or "ai生成" in p]
    # Works on the second (2009) page are older than since: no detail call for any of them.
    assert sorted(p for p in paths if p.startswith("/ajax/illust/")) == [
        "/ajax/illust/110000002",
        "/ajax/illust/123456001",
        "/ajax/illust/67729319",
    ]
    host = server.base.removeprefix("http://")
    # A deleted work is skipped but does not fail the walk; the failed searches leave none.
    assert result.cursors == {f"pixiv:{host}:aiイラスト": "123456001"}
    assert all(r.headers.get("referer") == f"{server.base}/" for r in server.requests)


def test_an_age_gated_work_is_skipped_by_name_not_as_a_shape_error():
    case = FIXTURES / "pixiv" / "age_gated"
    with ReplayServer(case) as server:
        result = run_spider(PixivSpider, tags="AI生成", base_url=server.base)
    assert server.unexpected == []
    assert result.items == []
    stats = result.artwatch_stats()
    assert stats["artwatch/pixiv/bad_response/age_gated"] == 1
    assert not [key for key in stats if "unexpected" in key or "shape" in key]
    assert len(result.cursors) == 1  # a skipped work does not fail the walk
