"""The Civitai spider against invented responses of the documented /api/v1/images shape."""

from __future__ import annotations

from pydantic import SecretStr

from crawler.spiders.civitai import CivitaiSpider
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "civitai"


def test_pages_keep_the_prompt_and_resources_and_label_everything_ai():
    with ReplayServer(CASES / "paging") as server:
        result = run_spider(CivitaiSpider, base_url=server.base, tags="aiart")
    assert server.unexpected == []
    check_expected(CASES / "paging", result, server.base)
    assert all(item["ai_evidence"] == ["platform:civitai"] for item in result.items)
    first = next(item for item in result.items if item["post_id"] == "41000003")
    assert "/original=true/" in first["image_urls"][0]
    assert {"name": "JanePainterStyle_v2", "type": "lora", "weight": 0.8, "hash": "a1b2c3d4e5"} in (
        first["extra"]["resources"]
    )
    assert result.stats["artwatch/civitai/bad_response/video_only"] == 1
    assert result.stats["artwatch/civitai/pages"] == 2
    assert result.log_lines("no tag filter", "INFO")


def test_stops_at_the_stored_cursor():
    with ReplayServer(CASES / "cursor") as server:
        key = f"civitai:{server.base.removeprefix('http://')}:newest"
        result = run_spider(CivitaiSpider, cursors={key: "41000002"}, base_url=server.base)
    assert server.unexpected == []
    check_expected(CASES / "cursor", result, server.base)
    assert [item["post_id"] for item in result.items] == ["41000003"]
    assert result.cursors == {key: "41000003"}


def test_a_refused_api_key_is_named():
    settings = {"ARTWATCH_CREDENTIALS": {"CIVITAI_API_KEY": SecretStr("wrong-key")}}
    with ReplayServer(CASES / "unauthorized") as server:
        result = run_spider(CivitaiSpider, settings, base_url=server.base)
    assert server.unexpected == []
    check_expected(CASES / "unauthorized", result, server.base)
    assert result.items == [] and result.cursors == {}
    assert result.stats["artwatch/civitai/bad_response/http_401"] == 1
    (line,) = result.log_lines("http_401", "WARNING")
    assert "check CIVITAI_API_KEY (set, but refused)" in line


def test_a_next_page_without_the_query_parameters_keeps_sort_and_limit():
    case = CASES / "next_page_params"
    with ReplayServer(case) as server:
        result = run_spider(CivitaiSpider, base_url=server.base)
    assert server.unexpected == []
    second = server.requests[1].path
    assert "sort=Newest" in second and "limit=100" in second and "cursor=" in second
    assert result.stats["artwatch/civitai/pages"] == 2
    assert check_expected(case, result, server.base) == check_expected(
        CASES / "paging", result, server.base
    )
