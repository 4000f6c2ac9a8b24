"""The xiaohongshu spider in real Chromium (scrapy-playwright): a local stand-in for the web app
whose own script POSTs for reconstructed API answers, which the spider captures."""

from __future__ import annotations

import base64
import json
from io import BytesIO
from urllib.parse import unquote

import pytest
from scrapy.exporters import JsonLinesItemExporter

from crawler.browser import save_storage_state
from crawler.items import PostItem
from crawler.spiders.xiaohongshu import (
    XiaohongshuSpider,
    ai_evidence,
    best_image,
    note_from_state,
    storage_state_problem,
)
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "xiaohongshu"
STORAGE_STATE = CASES / "search" / "storage_state.json"
LOGGED_IN = {"ARTWATCH_CREDENTIALS": {"XHS_STORAGE_STATE": str(STORAGE_STATE)}}
NOTE_A, NOTE_B, NOTE_C = (
    "65f0a1b2000000000d00a001",
    "65f09000000000000d00b002",
    "65ef0000000000000d00c003",
)
SEARCH_API, FEED_API = "/api/sns/web/v1/search/notes", "/api/sns/web/v1/feed"


def _pages(server):
    """The pages the browser navigated to (not the app's script, API calls or pictures)."""
    skip = ("/img/", "/static/", "/api/")
    return [unquote(r.path) for r in server.requests if not r.path.startswith(skip)]


def _api_calls(server, path):
    return [json.loads(r.body) for r in server.requests if r.method == "POST" and r.path == path]


@pytest.fixture(scope="module")
def search():
    with ReplayServer(CASES / "search") as server:
        result = run_spider(
            XiaohongshuSpider, LOGGED_IN, tags="AI绘画", max_pages="2", base_url=server.base
        )
    return server, result


def test_search_and_note_pages_render_into_items(search):
    server, result = search
    assert server.unexpected == []
    screenshots = {item["post_id"]: item["screenshot"] for item in result.items}
    # Note C only exists after the search page was scrolled once (max_pages=2).
    assert sorted(screenshots) == [NOTE_C, NOTE_A]
    for item in result.items:
        assert item["screenshot"].startswith(b"\x89PNG\r\n\x1a\n")
        assert len(item["screenshot"]) > 1000
        item["screenshot"] = "<png>"  # its bytes depend on the fonts of the machine
    check_expected(CASES / "search", result, server.base)
    assert result.artwatch_stats()["artwatch/xiaohongshu/bad_response/video_only"] == 1


def test_images_are_the_full_size_scene_not_the_preview(search):
    server, result = search
    images = {item["post_id"]: item["image_urls"] for item in result.items}
    # A's pictures name WB_DFT in either order; C's has no info_list, only url_default.
    assert images == {
        NOTE_A: [f"{server.base}/img/a-1.png", f"{server.base}/img/a-2.png"],
        NOTE_C: [f"{server.base}/img/c-1.png"],
    }


def test_ai_label_needs_ai_words_or_an_ai_topic_on_the_note(search):
    _, result = search
    labels = {item["post_id"]: item["ai_evidence"] for item in result.items}
    assert labels == {NOTE_A: ["text:ai绘画", "tag:ai绘画"], NOTE_C: []}


def test_the_page_signs_and_sends_the_api_calls_the_spider_only_reads_them(search):
    server, result = search
    # Scrapy itself only navigated; every POST came from the page's own script, signed by it.
    assert result.stats["downloader/request_method_count/GET"] == 3
    assert "downloader/request_method_count/POST" not in result.stats
    posts = [r for r in server.requests if r.method == "POST"]
    assert posts and all(r.headers["x-s"].startswith("INVENTED /api/") for r in posts)
    searches = _api_calls(server, SEARCH_API)
    # One scroll (max_pages=2) made the app ask for page 2; has_more=false ended it there.
    assert [(s["keyword"], s["page"]) for s in searches] == [("ai绘画", 1), ("ai绘画", 2)]
    feeds = sorted((f["source_note_id"], f["xsec_token"]) for f in _api_calls(server, FEED_API))
    assert feeds == [(NOTE_C, "ABtokenC3"), (NOTE_A, "ABtokenA1")]


def test_browser_sends_the_stored_session_and_opens_each_image_note_once(search):
    server, _ = search
    pages = [r for r in server.requests if not r.path.startswith("/img/")]
    assert all("web_session=INVENTED-session" in r.headers.get("cookie", "") for r in pages)
    # B's card says "video": its page is never opened.
    assert sorted(_pages(server)) == sorted(
        [
            "/search_result?keyword=ai绘画&source=web_explore_feed",
            f"/explore/{NOTE_A}?xsec_token=ABtokenA1&xsec_source=pc_search",
            f"/explore/{NOTE_C}?xsec_token=ABtokenC3&xsec_source=pc_search",
        ]
    )
    assert not [p for p in _pages(server) if NOTE_B in p]


def test_since_skips_older_notes_by_their_id_without_opening_them():
    with ReplayServer(CASES / "search") as server:
        result = run_spider(
            XiaohongshuSpider,
            LOGGED_IN,
            tags="AI绘画",
            max_pages="2",
            since="2024-03-12",
            base_url=server.base,
        )
    assert server.unexpected == []
    # C's id says 2024-03-11: cut on the search page. B (a video) is skipped there too.
    assert [item["post_id"] for item in result.items] == [NOTE_A]
    assert _pages(server)[1:] == [f"/explore/{NOTE_A}?xsec_token=ABtokenA1&xsec_source=pc_search"]
    assert result.stats["artwatch/xiaohongshu/posts_older_than_cutoff"] == 1


def test_login_wall_stops_the_crawl_and_says_why():
    with ReplayServer(CASES / "login_wall") as server:
        result = run_spider(XiaohongshuSpider, LOGGED_IN, tags="AI绘画", base_url=server.base)
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["finish_reason"] == "xiaohongshu_login_wall"
    assert result.stats["artwatch/xiaohongshu/blocked/login_wall"] == 1
    assert result.log_lines("login wall at")
    assert result.log_lines("XHS_STORAGE_STATE")


def test_captcha_status_on_the_apps_note_call_stops_without_retrying():
    with ReplayServer(CASES / "captcha") as server:
        result = run_spider(
            XiaohongshuSpider, LOGGED_IN, tags="AI绘画", max_pages="1", base_url=server.base
        )
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["finish_reason"] == "xiaohongshu_captcha_http_461"
    assert result.stats["artwatch/xiaohongshu/blocked/captcha_http_461"] == 1
    notes = [p for p in _pages(server) if p.startswith("/explore/")]
    # max_pages=1: no scroll, so only note A (B is a video); its feed call answered 461, once.
    assert notes == [f"/explore/{NOTE_A}?xsec_token=ABtokenA1&xsec_source=pc_search"]
    assert len(_api_calls(server, FEED_API)) == 1


def test_a_refused_search_answer_is_counted_and_stores_no_cursor():
    index = json.loads((CASES / "search" / "index.json").read_text(encoding="utf-8"))
    shell = [dict(e, body_file=f"xiaohongshu/search/{e['body_file']}") for e in index[:2]]
    refused = {"code": -1, "success": False, "msg": "INVENTED refusal", "data": {}}
    answer = {"method": "POST", "path": SEARCH_API, "body": json.dumps(refused)}
    with ReplayServer(entries=[*shell, answer]) as server:
        result = run_spider(
            XiaohongshuSpider, LOGGED_IN, tags="AI绘画", max_pages="1", base_url=server.base
        )
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["artwatch/xiaohongshu/bad_response/api_refused"] == 1
    assert result.log_lines("INVENTED refusal", "WARNING")


def test_without_a_storage_state_nothing_is_requested():
    with ReplayServer(CASES / "search") as server:
        result = run_spider(XiaohongshuSpider, tags="AI绘画", base_url=server.base)
    assert server.requests == []
    assert result.stats["finish_reason"] == "missing_credentials"
    assert result.artwatch_stats() == {"artwatch/xiaohongshu/missing_credentials": 1}
    assert result.log_lines("XHS_STORAGE_STATE is not set")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (None, "XHS_STORAGE_STATE is not set"),
        ("/nonexistent/state.json", "does not exist"),
        (str(CASES / "note_state.html"), "is not readable JSON"),
        (str(CASES / "search" / "index.json"), "is not a Playwright storage state"),
        (str(STORAGE_STATE), None),
    ],
)
def test_storage_state_problems_are_named(path, problem):
    found = storage_state_problem(path)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_a_server_rendered_note_reads_like_the_feed_answer():
    html = (CASES / "note_state.html").read_text(encoding="utf-8")
    assert "undefined" in html
    note = note_from_state(html, NOTE_A)
    assert note["image_list"][0]["trace_id"] is None
    assert note["user"]["user_id"] == "5f3c1a2b000000000101a001"
    assert best_image(note["image_list"][0]) == "{base}/img/a-1.png"
    assert note_from_state(html, NOTE_B) is None
    assert note_from_state("<html></html>", NOTE_A) is None


PRV = {"image_scene": "WB_PRV", "url": "prv"}
DFT = {"image_scene": "WB_DFT", "url": "dft"}


@pytest.mark.parametrize(
    ("image", "chosen"),
    [
        ({"info_list": [PRV, DFT], "url_default": "default", "url_pre": "pre"}, "dft"),
        ({"info_list": [PRV], "url_default": "default", "url_pre": "pre"}, "default"),
        ({"info_list": [PRV], "url_default": "", "url_pre": "pre"}, "prv"),
        ({"url_pre": "pre"}, "pre"),
    ],
)
def test_best_image_prefers_the_full_size_scene(image, chosen):
    assert best_image(image) == chosen


def test_ai_words_in_the_text_or_in_a_topic_are_evidence():
    # A topic such as "AI生成内容" holds an AI word without being one of the base AI tags.
    assert ai_evidence("原创 AIGC 练习", ["AI生成内容", "水彩"]) == ["text:aigc", "tag:ai生成内容"]
    assert ai_evidence("纯手绘 不是AI", ["手绘"]) == []


def test_feed_export_writes_the_screenshot_as_base64():
    png = (CASES / "search" / "a-1.png").read_bytes()
    buffer = BytesIO()
    JsonLinesItemExporter(buffer).export_item(PostItem(post_id=NOTE_A, screenshot=png))
    exported = json.loads(buffer.getvalue())
    assert base64.b64decode(exported["screenshot"]) == png


def test_saved_login_session_is_private_and_accepted_by_the_spider(tmp_path):
    case = tmp_path / "login"
    case.mkdir()
    page = "<html><head><link rel='icon' href='data:,'></head><body>logged in</body></html>"
    cookie = "web_session=fresh-login; Path=/; HttpOnly"
    entry = {"method": "GET", "path": "/", "body": page}
    entry["headers"] = {"Content-Type": "text/html", "Set-Cookie": cookie}
    (case / "index.json").write_text(json.dumps([entry]), encoding="utf-8")
    target = tmp_path / "state" / "xhs.json"
    target.parent.mkdir()
    target.write_text("{}", encoding="utf-8")
    target.chmod(0o644)
    with ReplayServer(case) as server:
        saved = save_storage_state(f"{server.base}/", target, headless=True, wait=lambda: None)
    assert server.unexpected == []
    cookies = json.loads(saved.read_text(encoding="utf-8"))["cookies"]
    assert [(c["name"], c["value"]) for c in cookies] == [("web_session", "fresh-login")]
    assert saved.stat().st_mode & 0o777 == 0o600
    assert storage_state_problem(str(saved)) is None
