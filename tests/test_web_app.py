"""The web app over real HTTP (uvicorn on loopback, the real store): sign-in, sessions,
scoping, headers, body limits, uploads, evidence packs, languages, the operator view."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from artwatch import web
from artwatch.alerts.webhook import verify
from artwatch.samples import artwork
from artwatch.web import i18n
from artwatch.web.app import HeadDeadline
from artwatch.web.auth import digest
from pipelines.store.writes import utcnow
from tests.web_support import BOX, Client, seed_ana_hits, seed_hit, serving


@pytest.fixture
def site(store):
    ana = store.add_artist("Ana", "ana@example.org")
    bo = store.add_artist("Bo", "bo@example.org")
    ana_hits = seed_ana_hits(store, ana)
    bo_hit = seed_hit(store, bo, 3)
    with serving(store) as base:
        yield {
            "base": base,
            "ana": ana,
            "bo": bo,
            "ana_hits": ana_hits,
            "bo_hit": bo_hit,
            "bo_artwork": store.hit(bo_hit)["artwork_id"],
        }


def signed_in(site, store, who: str = "ana") -> Client:
    client = Client(site["base"])
    client.sign_in(web.new_login_token(store, site[who]))
    return client


def test_a_login_link_works_once_and_expires(site, store):
    token = web.new_login_token(store, site["ana"])
    client = Client(site["base"])
    assert client.get(f"/login?token={token}")[0] == 200  # a page with a button, not spent
    client.sign_in(token)
    assert client.get("/hits")[0] == 200
    stolen = Client(site["base"])
    assert stolen.post("/login", {"token": token})[0] == 403
    old = web.new_login_token(store, site["ana"])
    store.set_login_token(site["ana"], digest(old), utcnow() - timedelta(seconds=1))
    assert Client(site["base"]).post("/login", {"token": old})[0] == 403
    assert Client(site["base"]).get("/hits")[1]["location"] == "/login"
    # Another site cannot sign a visitor in (to its own account) by posting a link's token.
    token = web.new_login_token(store, site["ana"])
    assert (
        Client(site["base"]).post("/login", {"token": token}, Origin="https://evil.example")[0]
        == 403
    )
    Client(site["base"]).sign_in(token)  # not spent by the refused attempt


def test_sessions_end_with_logout_a_new_link_and_sign_out_everywhere(site, store):
    phone, laptop = signed_in(site, store), signed_in(site, store)
    # The second link ended the first session.
    assert phone.get("/hits")[0] == 303 and laptop.get("/hits")[0] == 200
    stolen_cookie = dict(laptop.cookies)
    assert laptop.post("/logout", {"csrf": laptop.csrf()})[0] == 303
    replay = Client(site["base"])
    replay.cookies = stolen_cookie
    assert replay.get("/hits")[0] == 303
    desk = signed_in(site, store)
    cookie = dict(desk.cookies)
    desk.post("/settings/sign-out-everywhere", {"csrf": desk.csrf()})
    replay.cookies = cookie
    assert replay.get("/settings")[0] == 303


def test_a_forged_session_cookie_is_no_session(site, store):
    client = signed_in(site, store)
    name, value = next(iter(client.cookies.items()))
    payload, _, signature = value.rpartition(".")
    client.cookies[name] = payload + "." + signature[::-1]
    assert client.get("/hits")[0] == 303


def test_every_route_answers_404_for_another_artists_ids(site, store):
    client = signed_in(site, store)
    csrf = client.csrf()
    hit, art = site["bo_hit"], site["bo_artwork"]
    for path in (
        f"/hits/{hit}", f"/hits/{hit}/found.jpg", f"/hits/{hit}/artwork.jpg",
        f"/hits/{hit}/screenshot.png", f"/hits/{hit}/evidence.zip", f"/evidence.zip?ids={hit}",
        f"/evidence.zip?ids={site['ana_hits'][0]}&ids={hit}", f"/portfolio/{art}/thumbnail.jpg",
        f"/api/hits/{hit}", "/hits/nothing-like-an-id", f"/hits/{'0' * 24}",
    ):  # fmt: skip
        assert client.get(path)[0] == 404, path
    for path in (f"/hits/{hit}/status", f"/portfolio/{art}/remove"):
        assert client.post(path, {"csrf": csrf, "status": "dismissed"})[0] == 404, path
    api = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    body = json.dumps({"status": "dismissed"}).encode()
    assert client.request("POST", f"/api/hits/{hit}/status", body, api)[0] == 404
    assert client.request("DELETE", f"/api/artworks/{art}", None, api)[0] == 404
    bulk = json.dumps({"ids": [hit], "status": "dismissed"}).encode()
    assert json.loads(client.request("POST", "/api/hits/status", bulk, api)[2]) == {"changed": 0}
    client.post("/hits/status", [("csrf", csrf), ("status", "dismissed"), ("ids", hit)])
    assert store.hit(hit)["status"] == "new"
    assert store.artwork(art) is not None
    assert hit.encode() not in client.get("/hits")[2]


def test_forms_need_the_session_token(site, store):
    client = signed_in(site, store)
    hit = site["ana_hits"][0]
    assert client.post(f"/hits/{hit}/status", {"status": "dismissed"})[0] in (403, 422, 400)
    assert client.post(f"/hits/{hit}/status", {"status": "dismissed", "csrf": "x"})[0] == 403
    body = json.dumps({"status": "dismissed"}).encode()
    headers = {"Content-Type": "application/json"}
    assert client.request("POST", f"/api/hits/{hit}/status", body, headers)[0] == 403
    assert store.hit(hit)["status"] == "new"


def test_security_headers_and_secure_cookie(store):
    ana = store.add_artist("Ana", "ana@example.org")
    seed_hit(store, ana, 1)
    with serving(store, public_url="https://artwatch.example") as base:
        client = Client(base)
        status, headers, _ = client.post("/login", {"token": web.new_login_token(store, ana)})
        assert status == 303 and "secure" in headers["set-cookie"].lower()
        assert "httponly" in headers["set-cookie"].lower()
        _, headers, _ = client.get("/login")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
    with serving(store) as base:
        client = Client(base)
        client.post("/login", {"token": web.new_login_token(store, ana)})
        status, headers, _ = client.get("/hits")
        assert status == 200 and headers["cache-control"] == "no-store"
        assert "secure" not in headers.get("set-cookie", "").lower()


def test_bodies_are_bounded_before_sign_in(site):
    client = Client(site["base"])
    status, _, body = client.request("POST", "/logout", b"", {"Content-Length": str(400 << 20)})
    assert status == 413 and b"MB" in body
    status, _, _ = client.request("POST", "/logout", b"0\r\n\r\n", {"Transfer-Encoding": "chunked"})
    assert status == 411


def png_bomb() -> bytes:
    """A valid-looking PNG header claiming 40000x40000 pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))  # fmt: skip


def multipart(csrf: str, files: list[tuple[str, bytes]]) -> tuple[bytes, dict]:
    boundary = "artwatchtestboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n']
    body = "".join(parts).encode()
    for name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"'
                "\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    artwork(seed).save(buffer, "PNG")
    return buffer.getvalue()


def test_uploads_refuse_what_is_not_a_usable_image_and_enroll_nothing_of_it(site, store):
    client = signed_in(site, store)
    csrf = client.csrf()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.png", png(40))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    bad = [
        ("notes.txt", b"hello, not a picture"),
        ("art.zip", archive.getvalue()),
        ("evil.svg", svg),
        ("bomb.png", png_bomb()),
        ("empty.png", b""),
    ]
    body, headers = multipart(csrf, bad)
    status, _, page = client.request("POST", "/portfolio", body, headers)
    assert status == 400
    text = page.decode()
    for name, _ in bad:
        assert re.search(rf"{re.escape(name)}</strong>:\s*refused", text), name
    assert "zip archive" in text and "SVG" in text and "decompression bomb" in text
    assert store.count_artworks(site["ana"]) == 2  # the seeded ones only

    body, headers = multipart(csrf, [("new.png", png(41)), ("again.png", png(41))])
    status, _, page = client.request("POST", "/portfolio", body, headers)
    assert status == 200 and "Already in your portfolio" in page.decode()
    assert store.count_artworks(site["ana"]) == 3
    big = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(100 << 20)}
    status, _, message = client.request("POST", "/portfolio", b"", big)
    assert status == 413 and b"64 MB" in message


def pdf_text(data: bytes) -> str:
    """What a PDF says, read back by poppler's pdftotext (poppler-utils: `make chromium`)."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode()


def sha256sums(archive: zipfile.ZipFile, folder: str = "") -> dict[str, str]:
    lines = archive.read(f"{folder}SHA256SUMS").decode().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_evidence_pack_holds_the_files_their_hashes_and_notices(site, store):
    client = signed_in(site, store)
    hit = site["ana_hits"][1]
    status, headers, body = client.get(f"/hits/{hit}/evidence.zip")
    assert status == 200 and headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = set(archive.namelist())
    assert {"artwork.jpg", "found.jpg", "report.html", "report.pdf", "evidence.json",
            "SHA256SUMS", "takedown-en.txt", "takedown-zh-Hans.txt"} <= names  # fmt: skip
    evidence = json.loads(archive.read("evidence.json"))
    for name, expected in evidence["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == expected
    sums = sha256sums(archive)
    assert sums == {**evidence["files"], "evidence.json": sums["evidence.json"]}
    assert sums["report.pdf"] == hashlib.sha256(archive.read("report.pdf")).hexdigest()
    assert "report_pdf_missing" not in evidence
    # The PDF is the report printed by Chromium: the post, the picture's hash, the pictures.
    printed = archive.read("report.pdf")
    assert printed.startswith(b"%PDF-") and len(printed) > 10_000
    text = pdf_text(printed)
    assert "https://mastodon.example/@x/2" in text and f"{1002:064x}" in text
    assert evidence["hit"]["post_url"] == "https://mastodon.example/@x/2"
    assert evidence["image_sha256"] == f"{1002:064x}"
    report = archive.read("report.html").decode()
    assert "<rect" in report and "data:image/jpeg;base64," in report
    assert "微博社区管理中心" in archive.read("takedown-zh-Hans.txt").decode()
    assert "Weibo's community management centre" in archive.read("takedown-en.txt").decode()
    # A selection: one folder per hit, each with its printed report.
    both = "&".join(f"ids={h}" for h in site["ana_hits"])
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/evidence.zip?{both}")[2]))
    assert {name.split("/")[0] for name in archive.namelist()} == set(site["ana_hits"])
    for folder in site["ana_hits"]:
        printed = archive.read(f"{folder}/report.pdf")
        digest = hashlib.sha256(printed).hexdigest()
        assert sha256sums(archive, f"{folder}/")["report.pdf"] == digest
        assert store.hit(folder)["post_url"] in pdf_text(printed)


def test_the_printed_report_is_in_chinese_for_a_chinese_reader(site, store):
    client = signed_in(site, store)
    chinese = {"Accept-Language": "zh-CN"}
    body = client.get(f"/hits/{site['ana_hits'][1]}/evidence.zip", **chinese)[2]
    text = pdf_text(zipfile.ZipFile(io.BytesIO(body)).read("report.pdf"))
    # Chinese comes out of the PDF as text, so Chromium had a CJK font to set it in.
    assert "证据报告" in text and "https://mastodon.example/@x/2" in text


def test_without_chromium_the_pack_comes_without_the_pdf_and_says_why(site, store, caplog):
    # A real boundary: the executable does not exist, so Playwright's launch itself fails,
    # as on a deployment where Debian's chromium package is not installed.
    with serving(store, chromium="/nonexistent/chromium") as base:
        client = Client(base)
        client.sign_in(web.new_login_token(store, site["ana"]))
        status, _, body = client.get(f"/hits/{site['ana_hits'][1]}/evidence.zip")
    assert status == 200
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert "report.html" in archive.namelist() and "report.pdf" not in archive.namelist()
    evidence = json.loads(archive.read("evidence.json"))
    assert evidence["report_pdf_missing"].startswith(
        "Chromium could not start (/nonexistent/chromium)"
    )
    assert "report.pdf" not in evidence["files"] and "report.pdf" not in sha256sums(archive)
    logged = [r.getMessage() for r in caplog.records if r.name == "artwatch.web.pdf"]
    assert len(logged) == 1 and "/nonexistent/chromium" in logged[0]


def test_post_text_is_escaped(site, store):
    client = signed_in(site, store)
    page = client.get(f"/hits/{site['ana_hits'][0]}")[2].decode()
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    assert "<script>window" not in page


def test_queue_filters_pages_and_bulk_review(site, store):
    for seed in range(10, 40):
        seed_hit(store, site["ana"], seed)
    client = signed_in(site, store)
    first = client.get("/hits")[2].decode()
    assert first.count('class="card ') == 24 and "Page 1 of 2" in first
    assert client.get("/hits?page=2")[2].decode().count('class="card ') == 8
    weibo = client.get("/hits?platform=weibo&kind=partial")[2].decode()
    assert weibo.count('class="card ') == 1 and site["ana_hits"][1] in weibo
    dated = client.get("/hits?since=2026-11-12&until=2026-11-13")[2].decode()
    assert dated.count('class="card ') == 2
    redrawn = seed_hit(store, site["ana"], 50, kind="derivative")
    derivatives = client.get("/hits?kind=derivative")[2].decode()
    assert derivatives.count('class="card ') == 1 and redrawn in derivatives
    assert "re-drawn (derivative)" in derivatives
    csrf = client.csrf()
    fields = [("csrf", csrf), ("status", "dismissed")] + [("ids", h) for h in site["ana_hits"]]
    assert client.post("/hits/status", fields)[0] == 303
    assert {store.hit(h)["status"] for h in site["ana_hits"]} == {"dismissed"}
    dismissed = client.get("/hits?status=dismissed")[2].decode()
    assert dismissed.count('class="card ') == 2


def test_language_from_accept_language_and_switch(site, store):
    client = signed_in(site, store)
    page = client.get("/hits", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})[2].decode()
    assert '<html lang="zh-Hans">' in page and "审核队列" in page
    client.post("/language", {"lang": "en", "next": "/hits"})
    page = client.get("/hits", **{"Accept-Language": "zh-CN"})[2].decode()
    assert "Review queue" in page
    assert store.artist(site["ana"])["language"] == "en"
    # An open redirect through the switcher goes home instead.
    assert (
        client.post("/language", {"lang": "en", "next": "//evil.example"})[1]["location"] == "/hits"
    )


def test_settings_and_webhook_secret_rotation(site, store):
    client = signed_in(site, store)
    fields = {"csrf": client.csrf(), "email": "ana@new.example", "alert_mode": "daily",
              "min_kind": "near", "alert_derivatives": "1",
              "webhook_url": "https://hooks.example/artwatch"}  # fmt: skip
    assert client.post("/settings", fields)[0] == 303
    artist = store.artist(site["ana"])
    assert (artist["email"], artist["alert_mode"], artist["min_kind"]) == (
        "ana@new.example", "daily", "near")  # fmt: skip
    assert artist["alert_derivatives"] is True and artist["webhook_secret"]
    assert client.post("/settings", {**fields, "webhook_url": "javascript:alert(1)"})[0] == 400
    page = client.post("/settings/rotate-secret", {"csrf": client.csrf()})[2].decode()
    stored = store.artist(site["ana"])["webhook_secret"]
    secret = BOX.open(stored)  # stored encrypted, shown in plain this once
    assert stored.startswith("fernet:") and secret not in stored
    assert secret != BOX.open(artist["webhook_secret"]) and secret in page
    assert secret not in client.get("/settings")[2].decode()


def test_operator_sees_artists_and_sources_but_no_hits(site, store):
    operator = Client(site["base"])
    token = web.new_operator_token(store)
    assert operator.post("/admin/login", {"token": token})[0] == 303
    status, _, page = operator.get("/admin")
    assert status == 200 and "ana@example.org" in page.decode()
    assert "mastodon.example" not in page.decode()
    assert operator.get("/hits")[0] == 303  # not an artist
    assert operator.get(f"/hits/{site['ana_hits'][0]}/evidence.zip")[0] == 303
    assert Client(site["base"]).post("/admin/login", {"token": token})[0] == 403


def test_the_commands_print_links_that_sign_in_to_the_served_app(mongo_uri, store, tmp_path):
    ana = store.add_artist("Ana", "ana@example.org")
    env = {**os.environ, "MONGODB_URI": mongo_uri, "ARTWATCH_DB_NAME": store.db_name,
           "ARTWATCH_DATA_DIR": str(tmp_path), "ARTWATCH_SECRET_KEY": "k" * 32}  # fmt: skip
    cli = [sys.executable, "-m", "artwatch"]

    def link(*args: str) -> str:
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return urlsplit(done.stdout.strip())._replace(scheme="", netloc="").geturl()

    artist_path, admin_path = link("artist", "login-link", ana), link("admin", "login-link")
    server = subprocess.Popen(
        [*cli, "dashboard", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        base = re.search(r"http://\S+?(?=/ )", server.stdout.readline()).group(0)
        artist = Client(base)
        artist.sign_in(parse_qs(urlsplit(artist_path).query)["token"][0])
        assert artist.get("/hits")[0] == 200
        operator = Client(base)
        token = parse_qs(urlsplit(admin_path).query)["token"][0]
        assert operator.post("/admin/login", {"token": token})[0] == 303
        assert operator.get("/admin")[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0  # graceful: no traceback, exit 0


def test_connections_that_send_no_request_are_closed(store, monkeypatch):
    monkeypatch.setattr(HeadDeadline, "seconds", 0.5)
    with serving(store) as base:
        address = urlsplit(base)
        for opening in (b"", b"GET /hits HTTP/1.1\r\nHost: x\r\n"):  # nothing, half a head
            with socket.create_connection((address.hostname, address.port), timeout=60) as c:
                c.sendall(opening)
                assert c.recv(100) == b""  # closed by the server, not by our timeout


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver answering with the status in its path, keeping what it got."""

    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, self.headers["X-ArtWatch-Signature"], body))
        self.send_response(int(self.path.strip("/")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_webhook_test_button_shows_the_receivers_answer(store):
    ana = store.add_artist("Ana", "ana@example.org")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}"
    try:
        with serving(store, allow_private_hosts=("127.0.0.1",)) as base:
            client = Client(base)
            client.sign_in(web.new_login_token(store, ana))
            for status, shown in (("204", "answered: 2xx"), ("500", "HTTP 500")):
                fields = {"csrf": client.csrf(), "email": "ana@example.org",
                          "webhook_url": f"{hook}/{status}"}  # fmt: skip
                assert client.post("/settings", fields)[0] == 303
                page = client.post("/settings/webhook-test", {"csrf": client.csrf()})[2]
                assert shown in page.decode()
    finally:
        receiver.shutdown()
    secret = BOX.open(store.artist(ana)["webhook_secret"])
    path, signature, body = Receiver.received[0]
    assert path == "/204" and verify(secret, signature, body)


def test_every_message_has_a_chinese_translation():
    """What `pybabel extract` finds (artwatch/web/babel.cfg) is all in the zh_Hans catalogue."""
    root = Path(__file__).parent.parent
    with (root / "artwatch" / "web" / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {  # (message id, context): the alert emails use pgettext for the match kinds
        (message[2] if isinstance(message[2], str) else message[2][0], message[4])
        for message in extract_from_dir(
            root, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}
        )
    }
    po = i18n.LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalogue = read_po(source, locale="zh_Hans")
    untranslated = sorted(
        (m, c) for m, c in found if m and not getattr(catalogue.get(m, c), "string", "")
    )
    assert len(found) > 100 and untranslated == []
    # The alert emails' strings are extracted too (babel.cfg covers artwatch/alerts).
    assert ("You receive this because you enrolled your portfolio with ArtWatch.", None) in found
    assert ("near", "match kind") in found
