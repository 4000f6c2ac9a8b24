"""The dashboard in real Chromium: sign in by link, review side by side, only your own hits."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

from artwatch.dashboard import make_dashboard_server, new_login_token
from artwatch.samples import artwork
from crawler.browser import CHROMIUM_LAUNCH_OPTIONS
from pipelines.engine.thumbnails import thumbnail
from pipelines.store.writes import utcnow

SECRET = b"test-secret-key"


def seed_hit(store, artist_id: str, seed: int, text: str) -> str:
    artwork_id, _ = store.add_artwork(
        artist_id,
        f"{seed:064x}",
        {"filename": f"{seed}.png", "thumbnail": thumbnail(artwork(seed))},
    )
    found = artwork(seed).rotate(3)
    hit_id, _ = store.upsert_hit(
        {
            "artwork_id": artwork_id,
            "image_id": f"{seed + 100:064x}",
            "post_id": f"mastodon:{seed}",
            "status": "new",
            "found_at": utcnow(),
            "artist_id": artist_id,
            "kind": "near",
            "score": 0.9,
            "platform": "mastodon",
            "post_url": f"https://mastodon.example/@x/{seed}",
            "author_name": "poster",
            "text": text,
            "ai_evidence": ["tag:aiart"],
            "thumbnail": thumbnail(found),
        }
    )
    return hit_id


@pytest.fixture
def site(store):
    ana = store.add_artist("Ana", "ana@example.org")
    bo = store.add_artist("Bo", "bo@example.org")
    hits = {
        "ana": seed_hit(store, ana, 1, "<script>window.pwned = 1</script> #aiart"),
        "bo": seed_hit(store, bo, 2, "bo's post"),
    }
    server = make_dashboard_server(store, SECRET, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "url": f"http://127.0.0.1:{server.server_port}",
        "ana": ana,
        "bo": bo,
        "hits": hits,
        "token": new_login_token(store, ana),
    }
    server.shutdown()
    server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, cookie: str = "", data: bytes | None = None) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def session(site) -> str:
    status, headers, _ = fetch(f"{site['url']}/login?token={site['token']}")
    assert status == 303 and headers["Location"] == "/hits"
    return headers["Set-Cookie"].split(";")[0]


def test_signed_out_visitors_are_sent_to_sign_in(site):
    status, headers, _ = fetch(f"{site['url']}/hits/{site['hits']['ana']}")
    assert status == 303 and headers["Location"] == "/login"
    assert fetch(f"{site['url']}/login?token=wrong")[0] == 403


def test_session_cookie_is_signed_and_scoped(site):
    cookie = session(site)
    assert "HttpOnly" in fetch(f"{site['url']}/login?token={site['token']}")[1]["Set-Cookie"]
    assert fetch(f"{site['url']}/hits/{site['hits']['ana']}", cookie)[0] == 200
    # Another artist's hit is not found, exactly like a hit that does not exist.
    assert fetch(f"{site['url']}/hits/{site['hits']['bo']}", cookie)[0] == 404
    assert fetch(f"{site['url']}/hits/{site['hits']['bo']}/found", cookie)[0] == 404
    assert fetch(f"{site['url']}/hits/{'0' * 24}", cookie)[0] == 404
    # A cookie naming Bo without Ana's signature key is no session at all.
    forged = cookie.replace(site["ana"], site["bo"])
    assert fetch(f"{site['url']}/hits/{site['hits']['bo']}", forged)[0] == 303


def test_status_change_needs_the_form_token(site, store):
    cookie = session(site)
    hit = site["hits"]["ana"]
    status, _, _ = fetch(f"{site['url']}/hits/{hit}/status", cookie, b"status=dismissed")
    assert status == 403
    assert store.hits(site["ana"])[0]["status"] == "new"


def test_evidence_export_is_json_of_the_hit(site):
    cookie = session(site)
    status, headers, body = fetch(f"{site['url']}/hits/{site['hits']['ana']}/evidence.json", cookie)
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    evidence = json.loads(body)
    assert evidence["hit"]["post_url"] == "https://mastodon.example/@x/1"
    assert evidence["artwork"]["filename"] == "1.png"


def test_artist_reviews_a_hit_side_by_side_in_chromium(site, store):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**CHROMIUM_LAUNCH_OPTIONS)
        page = browser.new_page()
        page.goto(f"{site['url']}/login?token={site['token']}")
        assert page.url.endswith("/hits")
        assert page.locator("table.hits tr").count() == 2  # header + Ana's one hit
        page.click("table.hits a")
        for alt in ("your artwork", "found image"):
            width = page.locator(f"img[alt='{alt}']").evaluate("img => img.naturalWidth")
            assert width > 0
        # The post's text is shown as text and never run.
        assert page.get_by_text("<script>window.pwned = 1</script> #aiart").count() == 1
        assert page.evaluate("window.pwned") is None
        page.click("button[value='dismissed']")
        page.wait_for_load_state()
        browser.close()
    assert store.hits(site["ana"])[0]["status"] == "dismissed"
    assert store.hits(site["bo"])[0]["status"] == "new"
