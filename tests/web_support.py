"""Helpers for the web app tests: seeded artists and hits, a real uvicorn server in a thread,
and a small HTTP client that keeps a session cookie and never follows redirects."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from cryptography.fernet import Fernet

from artwatch import web
from artwatch.samples import artwork
from artwatch.sealed import SecretBox
from pipelines.engine.thumbnails import thumbnail

SECRET = b"test-secret-key-for-the-web-app!"
BOX = SecretBox(Fernet.generate_key())  # the app's key for webhook secrets


def seed_artwork(store, artist_id: str, seed: int) -> str:
    artwork_id, _ = store.add_artwork(
        artist_id,
        f"{seed:064x}",
        {
            "filename": f"work-{seed}.png",
            "thumbnail": thumbnail(artwork(seed)),
            "width": 64,
            "height": 64,
        },
    )
    return artwork_id


def seed_hit(store, artist_id: str, seed: int, **fields) -> str:
    artwork_id = fields.pop("artwork_id", None) or seed_artwork(store, artist_id, seed)
    found = artwork(seed).rotate(3)
    hit = {
        "artist_id": artist_id,
        "artwork_id": artwork_id,
        "image_id": f"{seed + 1000:064x}",
        "post_id": f"mastodon:example:{seed}",
        "kind": "near",
        "score": 0.9,
        "distances": {"pdq": 20, "phash": 4},
        "platform": "mastodon",
        "post_url": f"https://mastodon.example/@x/{seed}",
        "image_url": f"https://mastodon.example/media/{seed}.png",
        "author_name": "poster",
        "author_id": "x",
        "post_created_at": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=seed),
        "found_at": datetime(2026, 11, 2, tzinfo=UTC) + timedelta(days=seed),
        "text": f"post {seed} #aiart",
        "ai_evidence": ["tag:aiart"],
        "thumbnail": thumbnail(found),
        "status": "new",
        **fields,
    }
    return store.upsert_hit(hit)[0]


def seed_ana_hits(store, artist_id: str) -> list[str]:
    """Ana's first two hits in every web test: one whose post tries a script, one partial
    match on Weibo with the matched region recorded."""
    return [
        seed_hit(store, artist_id, 1, text="<script>window.pwned = 1</script> #aiart"),
        seed_hit(
            store,
            artist_id,
            2,
            kind="partial",
            platform="weibo",
            region={"x0": 0.1, "y0": 0.2, "x1": 0.6, "y1": 0.9},
        ),
    ]


@contextmanager
def serving(store, **config) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 under uvicorn, in a thread; yields its base URL."""
    app = web.create_app(store, web.WebConfig(secret_key=SECRET, secret_box=BOX, **config))
    server, sock = web.server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Client:
    """HTTP/1.1 to the app with one cookie jar; answers (status, headers, body)."""

    def __init__(self, base: str):
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        parts = urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)

    def post(self, path: str, fields: dict | list, **headers):
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self.request("POST", path, body, headers)

    def sign_in(self, token: str) -> None:
        status, headers, _ = self.post("/login", {"token": token})
        assert status == 303 and headers["location"] == "/hits", status

    def csrf(self) -> str:
        _, _, body = self.get("/settings")
        return re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()
