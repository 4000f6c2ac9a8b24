"""The web app in Debian's Chromium: what an artist does, start to finish, plus an axe-core
accessibility check and a 375 px wide phone view of every page. One browser per module."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from artwatch import web
from artwatch.samples import artwork
from crawler.browser import CHROMIUM_LAUNCH_OPTIONS
from pipelines.engine.fingerprint import fingerprint
from pipelines.store.sync import Store
from tests.web_support import seed_ana_hits, seed_hit, serving

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Every page at phone width, in both languages, for the README and for a look (git-ignored).
SCREENSHOTS = Path(__file__).parent.parent / "var" / "screenshots"
PAGES = ("/hits", "/hits/{hit}", "/portfolio", "/settings", "/hits/{nothing}", "/admin")


@pytest.fixture(scope="module")
def store(mongo_uri):
    with Store(mongo_uri, f"test_{uuid.uuid4().hex[:12]}") as opened:
        yield opened


@pytest.fixture(scope="module")
def site(store):
    ana = store.add_artist("Ana", "ana@example.org")
    bo = store.add_artist("Bo", "bo@example.org")
    hits = [
        *seed_ana_hits(store, ana),
        seed_hit(store, ana, 3, platform="bluesky"),
        seed_hit(store, ana, 4, platform="bluesky"),
    ]
    seed_hit(store, bo, 5)
    with serving(store, allow_private_hosts=("127.0.0.1",)) as base:
        yield {"base": base, "ana": ana, "hits": hits}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**CHROMIUM_LAUNCH_OPTIONS)
        yield launched
        launched.close()


def sign_in(browser, site, store, **context):
    page = browser.new_context(**context).new_page()
    page.goto(f"{site['base']}/login?token={web.new_login_token(store, site['ana'])}")
    page.locator("form[action='/login'] button").click()
    page.wait_for_url("**/hits")
    return page


def test_the_review_queue_shows_thumbnails_filters_and_bulk_dismisses(browser, site, store):
    page = sign_in(browser, site, store)
    cards = page.locator("li.card")
    expect(cards).to_have_count(4)
    for image in page.locator("li.card img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0
    page.select_option("#f-platform", "bluesky")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(cards).to_have_count(2)
    for box in page.locator("li.card input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Dismiss selected").click()
    expect(page.locator("li.card.status-dismissed")).to_have_count(2)
    assert {store.hit(h)["status"] for h in site["hits"][2:]} == {"dismissed"}
    assert {store.hit(h)["status"] for h in site["hits"][:2]} == {"new"}
    # The same with the keyboard: next card, select it, dismiss; then put it back.
    page.goto(f"{site['base']}/hits?status=new")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("d")
    expect(cards).to_have_count(1)
    assert store.hit(site["hits"][1])["status"] == "dismissed"
    store.set_hits_status(site["hits"], site["ana"], "new")
    page.context.close()


def test_a_hit_page_outlines_the_match_reviews_and_downloads_evidence(browser, site, store):
    page = sign_in(browser, site, store)
    hit = site["hits"][1]
    page.goto(f"{site['base']}/hits/{hit}")
    outline = page.locator("svg.outline rect")
    expect(outline).to_be_visible()
    box = outline.bounding_box()
    image = page.locator("img[alt='Found picture']").bounding_box()
    stroke = image["width"] * 0.012  # the outline's own line width
    assert box["width"] == pytest.approx(image["width"] * 0.5 + stroke, abs=2)
    assert box["x"] == pytest.approx(image["x"] + image["width"] * 0.1 - stroke / 2, abs=2)
    page.get_by_role("button", name="Confirm: this is my work").click()
    expect(page.locator("strong.status")).to_have_text("confirmed")
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("strong.status")).to_have_text("new")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download evidence pack").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    evidence = json.loads(archive.read("evidence.json"))
    assert evidence["hit_id"] == hit
    assert archive.read("report.pdf").startswith(b"%PDF-")
    for name, expected in evidence["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == expected
    # The post's text is shown as text and never run.
    page.goto(f"{site['base']}/hits/{site['hits'][0]}")
    expect(page.get_by_text("<script>window.pwned = 1</script> #aiart")).to_have_count(1)
    assert page.evaluate("window.pwned") is None
    page.context.close()


def test_a_portfolio_upload_is_enrolled_and_back_scanned(browser, site, store, tmp_path):
    crawled = artwork(77).resize((300, 300))  # a repost the crawl already stored
    store.insert_image("c" * 64, {"fingerprint": fingerprint(crawled).to_document()})
    store.upsert_post(
        {
            "platform": "mastodon",
            "post_id": "77",
            "url": "https://m.example/77",
            "images": [{"sha256": "c" * 64, "url": "https://m.example/77.png"}],
        }
    )
    page = sign_in(browser, site, store)
    page.goto(f"{site['base']}/portfolio")
    good, bad = tmp_path / "new-work.png", tmp_path / "notes.txt"
    artwork(77).save(good)
    bad.write_text("not a picture")
    page.set_input_files("#files", [str(good), str(bad)])
    page.get_by_role("button", name="Add to portfolio").click()
    expect(page.locator(".result-enrolled")).to_contain_text("new-work.png")
    expect(page.locator(".result-refused")).to_contain_text("Not a picture we can read")
    page.wait_for_url("**/portfolio")  # reloaded when the back-scan ends
    expect(page.locator(".work .name", has_text="new-work.png")).to_have_count(1)
    expect(page.locator(".backscan-text")).to_contain_text("Done: 1 new hits")
    assert [h["image_id"] for h in store.hits(site["ana"])].count("c" * 64) == 1
    page.context.close()


def test_switching_to_chinese(browser, site, store):
    page = sign_in(browser, site, store, locale="en-US")
    page.select_option("#lang", "zh_Hans")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("审核队列")
    page.select_option("#lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_is_accessible_and_fits_a_phone(browser, site, store, lang):
    # axe is injected as a script, which the app's CSP forbids: this context bypasses it.
    page = sign_in(
        browser,
        site,
        store,
        bypass_csp=True,
        viewport={"width": 375, "height": 800},
        locale=lang,
    )
    for path in ("/login", *PAGES):
        url = site["base"] + path.format(hit=site["hits"][1], nothing="0" * 24)
        if path == "/admin":  # the operator's own sign-in, in the same browser context
            page.goto(f"{site['base']}/admin/login?token={web.new_operator_token(store)}")
            page.locator("form[action='/admin/login'] button").click()
            page.wait_for_url("**/admin")
        page.goto(url)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], [n["target"] for n in v["nodes"]])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], (path, serious)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
        name = path.strip("/").replace("/{hit}", "-hit").replace("/{nothing}", "-404")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{lang}-375px.png"), full_page=True)
    page.context.close()
