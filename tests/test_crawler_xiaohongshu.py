"""The xiaohongshu spider rendering invented local pages in real Chromium (scrapy-playwright)."""

from __future__ import annotations

import base64
import json
from io import BytesIO
from urllib.parse import unquote

import pytest
from scrapy.exporters import JsonLinesItemExporter

from crawler.browser import save_storage_state
from crawler.items import PostItem
from crawler.spiders.xiaohongshu import XiaohongshuSpider, note_from_state, storage_state_problem
from tests.replay import FIXTURES, ReplayServer, check_expected, run_spider

CASES = FIXTURES / "xiaohongshu"
STORAGE_STATE = CASES / "search" / "storage_state.json"
LOGGED_IN = {"ARTWATCH_CREDENTIALS": {"XHS_STORAGE_STATE": str(STORAGE_STATE)}}
NOTE_A, NOTE_B, NOTE_C = (
    "65f0a1b2000000000d00a001",
    "65f09000000000000d00b002",
    "65ef0000000000000d00c003",
)


def _pages(server):
    return [unquote(r.path) for r in server.requests if not r.path.startswith("/img/")]


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


def test_ai_label_needs_an_ai_topic_on_the_note(search):
    _, result = search
    labels = {item["post_id"]: item["ai_evidence"] for item in result.items}
    assert labels == {NOTE_A: ["tag:ai绘画"], NOTE_C: []}


def test_browser_sends_the_stored_session_and_opens_each_note_once(search):
    server, _ = search
    pages = [r for r in server.requests if not r.path.startswith("/img/")]
    assert all("web_session=INVENTED-session" in r.headers.get("cookie", "") for r in pages)
    assert sorted(_pages(server)) == sorted(
        [
            "/search_result?keyword=ai绘画&source=web_explore_feed",
            f"/explore/{NOTE_A}?xsec_token=ABtokenA1&xsec_source=pc_search",
            f"/explore/{NOTE_B}?xsec_token=ABtokenB2&xsec_source=pc_search",
            f"/explore/{NOTE_C}?xsec_token=ABtokenC3&xsec_source=pc_search",
        ]
    )


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
    # C's id says 2024-03-11: cut on the search page. B (a video) is opened and skipped.
    assert [item["post_id"] for item in result.items] == [NOTE_A]
    assert not [p for p in _pages(server) if NOTE_C in p]
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


def test_captcha_status_on_a_note_stops_without_retrying():
    with ReplayServer(CASES / "captcha") as server:
        result = run_spider(
            XiaohongshuSpider, LOGGED_IN, tags="AI绘画", max_pages="1", base_url=server.base
        )
    assert server.unexpected == []
    assert result.items == [] and result.cursors == {}
    assert result.stats["finish_reason"] == "xiaohongshu_captcha_http_461"
    assert result.stats["artwatch/xiaohongshu/blocked/captcha_http_461"] == 1
    notes = [p for p in _pages(server) if p.startswith("/explore/")]
    # One note page answered 461; at most the one request already in flight follows it.
    assert 1 <= len(notes) <= 2
    assert len(set(notes)) == len(notes)


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
        (str(CASES / "search" / "note_a.html"), "is not readable JSON"),
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


def test_initial_state_with_javascript_undefined_is_read():
    html = (CASES / "search" / "note_a.html").read_text(encoding="utf-8")
    assert "undefined" in html
    note = note_from_state(html, NOTE_A)
    assert note["imageList"][0]["traceId"] is None
    assert note_from_state(html, NOTE_B) is None
    assert note_from_state("<html></html>", NOTE_A) is None


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
