"""Enrollment: folders, duplicates, unreadable files, URLs through the guard, stale versions."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from artwatch import portfolio
from artwatch.samples import artwork, encode
from pipelines.engine.fingerprint import Fingerprint, is_current
from pipelines.errors import ArtWatchError, FetchError, PrivateAddressError
from pipelines.store.writes import image_write, post_write, utcnow


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "portfolio"
    (root / "2024").mkdir(parents=True)
    (root / "a.jpg").write_bytes(encode(artwork(1), quality=92))
    (root / "2024" / "b.png").write_bytes(encode(artwork(2), "PNG"))
    (root / "z-copy.jpg").write_bytes((root / "a.jpg").read_bytes())
    (root / "notes.jpg").write_bytes(b"<html><body>not a picture</body></html>")
    (root / "empty.png").write_bytes(b"")
    (root / ".hidden.jpg").write_bytes(encode(artwork(3)))
    return root


def test_folder_is_enrolled_recursively_with_duplicates_and_failures_reported(store, folder):
    artist = store.add_artist("Ana", "ana@example.org")
    seen = []
    report = portfolio.enroll(
        store, artist, portfolio.expand([str(folder)]), on_progress=lambda s, f: seen.append(s)
    )
    assert len(report.added) == 2
    assert [p.rsplit("/", 1)[1] for p in report.duplicates] == ["z-copy.jpg"]
    failures = {source.rsplit("/", 1)[1]: why for source, why in report.failures}
    assert set(failures) == {"notes.jpg", "empty.png"}
    assert "not_an_image" in failures["notes.jpg"] and "empty" in failures["empty.png"]
    assert len(seen) == 5  # hidden files are skipped, every other file is reported once
    stored = list(store.db.artworks.find({"artist_id": artist}))
    assert {doc["filename"] for doc in stored} == {"a.jpg", "b.png"}
    for doc in stored:
        assert is_current(doc["fingerprint"])
        Fingerprint.from_document(doc["fingerprint"])  # round-trips through MongoDB
        assert Image.open(io.BytesIO(doc["thumbnail"])).format == "JPEG"
        assert max(Image.open(io.BytesIO(doc["thumbnail"])).size) <= 320
        assert (doc["width"], doc["height"]) == (640, 480)


def test_enrolling_again_adds_nothing(store, folder):
    artist = store.add_artist("Ana", "ana@example.org")
    portfolio.enroll(store, artist, portfolio.expand([str(folder)]))
    report = portfolio.enroll(store, artist, portfolio.expand([str(folder)]))
    assert report.added == [] and len(report.duplicates) == 3
    assert store.db.artworks.count_documents({}) == 2


def test_unknown_artist_is_refused(store, folder):
    with pytest.raises(ArtWatchError, match="no artist with id"):
        portfolio.enroll(store, "0" * 24, [str(folder / "a.jpg")])


def test_missing_file_is_a_line_not_a_crash(store, tmp_path):
    artist = store.add_artist("Ana", "ana@example.org")
    report = portfolio.enroll(store, artist, [str(tmp_path / "absent.jpg")])
    assert report.failures == [(str(tmp_path / "absent.jpg"), "no such file")]


@pytest.fixture
def image_server(folder):
    handler = lambda *a, **k: SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_url_is_enrolled_only_when_its_host_is_allowed(store, image_server):
    artist = store.add_artist("Ana", "ana@example.org")
    refused = portfolio.enroll(store, artist, [f"{image_server}/a.jpg"])
    assert "ARTWATCH_ALLOW_PRIVATE_HOSTS" in refused.failures[0][1]
    allowed = portfolio.enroll(store, artist, [f"{image_server}/a.jpg"], ["127.0.0.1"])
    assert len(allowed.added) == 1


class Redirects(BaseHTTPRequestHandler):
    """/art.jpg is a picture; /hop/N redirects N times before it; /away leaves 127.0.0.1."""

    picture = encode(artwork(4), quality=90)
    away = "http://169.254.169.254/latest/meta-data/"  # link-local: the cloud metadata host

    def do_GET(self):
        if self.path == "/art.jpg":
            self._answer(200, {"Content-Type": "image/jpeg"}, self.picture)
        elif self.path.startswith("/hop/"):
            left = int(self.path.rsplit("/", 1)[1])
            self._answer(302, {"Location": f"/hop/{left - 1}" if left > 1 else "/art.jpg"})
        elif self.path == "/away":
            self._answer(302, {"Location": self.away})
        else:
            self._answer(404, {})

    def _answer(self, status: int, headers: dict, body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def redirect_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_url_redirects_are_followed_hop_by_hop_through_the_guard(redirect_server):
    allow = ["127.0.0.1"]
    assert portfolio.read_source(f"{redirect_server}/hop/3", allow) == Redirects.picture
    with pytest.raises(PrivateAddressError, match="non-public address 169"):
        portfolio.read_source(f"{redirect_server}/away", allow)
    too_many = portfolio.MAX_REDIRECTS + 1
    with pytest.raises(FetchError, match="more than 5 redirects"):
        portfolio.read_source(f"{redirect_server}/hop/{too_many}", allow)
    with pytest.raises(FetchError, match="HTTP 404"):
        portfolio.read_source(f"{redirect_server}/absent.jpg", allow)


def test_url_larger_than_the_limit_is_refused(redirect_server, monkeypatch):
    monkeypatch.setattr(portfolio, "MAX_DOWNLOAD_BYTES", len(Redirects.picture) - 1)
    with pytest.raises(FetchError, match="larger than"):
        portfolio.read_source(f"{redirect_server}/art.jpg", ["127.0.0.1"])


def test_stale_fingerprints_are_refreshed_from_their_source(store, folder):
    artist = store.add_artist("Ana", "ana@example.org")
    portfolio.enroll(store, artist, [str(folder / "a.jpg")])
    store.db.artworks.update_one({}, {"$set": {"fingerprint.version": 0}})
    assert len(portfolio.stale_artworks(store)) == 1
    assert portfolio.refresh(store) == (1, [])
    assert portfolio.stale_artworks(store) == []


def test_cli_prints_a_line_per_unreadable_file_and_a_summary(store, folder, mongo_uri):
    artist = store.add_artist("Ana", "ana@example.org")
    env = {**os.environ, "MONGODB_URI": mongo_uri, "ARTWATCH_DB_NAME": store.db.name}
    result = subprocess.run(
        [sys.executable, "-m", "artwatch", "portfolio", "add", artist, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout and "notes.jpg" in result.stdout
    assert "added 2, already enrolled 1, unreadable 2" in result.stdout
    store.db.artworks.update_many({}, {"$set": {"fingerprint.version": 0}})
    refreshed = subprocess.run(
        [sys.executable, "-m", "artwatch", "portfolio", "refresh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "re-fingerprinted 2, could not re-read 0" in refreshed.stdout
    assert portfolio.stale_artworks(store) == []
    listed = subprocess.run(
        [sys.executable, "-m", "artwatch", "portfolio", "list", artist, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sorted(row["filename"] for row in json.loads(listed.stdout)) == ["a.jpg", "b.png"]


def crawled(store, post_id: str, image_bytes: bytes) -> str:
    """Store a post and its image the way the crawl pipelines write them."""
    sha256 = hashlib.sha256(image_bytes).hexdigest()
    fields = portfolio.artwork_fields(image_bytes, f"https://cdn.example/{post_id}.jpg")
    image = {k: fields[k] for k in ("fingerprint", "thumbnail", "width", "height")}
    now = utcnow()
    store.db.images.update_one(*image_write(sha256, {**image, "url": "u"}, now), upsert=True)
    post = {
        "platform": "mastodon",
        "post_id": post_id,
        "url": f"https://mastodon.example/@bo/{post_id}",
        "instance": "mastodon.example",
        "author_name": "bo",
        "text": "<b>look</b> #aiart",
        "ai_labeled": True,
        "ai_evidence": ["tag:aiart"],
        "images": [{"url": f"https://cdn.example/{post_id}.jpg", "sha256": sha256}],
    }
    store.db.posts.update_one(*post_write(post, now), upsert=True)
    return sha256


def test_backscan_finds_old_posts_once_and_enqueues_alerts(store, tmp_path):
    artist = store.add_artist("Ana", "ana@example.org")
    original = artwork(7, (800, 600))
    repost = original.resize((400, 300)).crop((20, 10, 380, 290))
    sha = crawled(store, "1", encode(repost, quality=70))
    crawled(store, "2", encode(artwork(8), quality=80))  # unrelated
    path = tmp_path / "mine.png"
    path.write_bytes(encode(original, "PNG"))
    report = portfolio.enroll(store, artist, [str(path)])

    assert portfolio.backscan(store, report.added) == 1
    [hit] = store.hits(artist_id=artist)
    assert hit["post_id"] == "mastodon:mastodon.example:1" and hit["image_id"] == sha
    assert hit["post_url"] == "https://mastodon.example/@bo/1"
    assert hit["kind"] in ("near", "partial") and hit["ai_evidence"] == ["tag:aiart"]
    assert store.db.alerts.count_documents({"hit_id": str(hit["_id"])}) == 1  # email only
    assert portfolio.backscan(store, report.added) == 0
    assert store.db.hits.count_documents({}) == 1


class Internal(BaseHTTPRequestHandler):
    """An internal image server on 127.0.0.2 (loopback, not allowed): records each request."""

    def do_GET(self):
        self.server.paths.append(self.path)
        body = Redirects.picture
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def internal_server():
    server = ThreadingHTTPServer(("127.0.0.2", 0), Internal)
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_url_connection_goes_to_the_checked_address_not_a_rebound_one(internal_server, monkeypatch):
    # Boundary mock (no DNS server or /etc/hosts is ours to change): `rebind.test` answers a
    # public address to the first lookup and 127.0.0.2 to every later one, as a rebinding
    # name does. The guard's check sees the first answer; the connection must not use another.
    real, calls = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = "93.184.215.14" if len(calls) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = f"http://rebind.test:{internal_server.server_port}/art.jpg"
    with pytest.raises(PrivateAddressError, match=r"non-public address 127\.0\.0\.2"):
        portfolio.read_source(url, ["127.0.0.1"])
    assert internal_server.paths == []
