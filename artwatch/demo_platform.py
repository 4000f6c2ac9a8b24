"""The demo's social platform: one local HTTP server speaking three platforms' formats.

Its posts are shared out between a Mastodon tag timeline (``/api/v1/timelines/tag/aiart``),
an RSS feed with ``media:content`` (``/feeds/aiart.rss``) and a Bluesky custom feed
(``/xrpc/app.bsky.feed.getFeed``), exactly the shapes the real spiders read, and the images
are served from ``/media/``. Everything is built in memory once the server knows its own
address; an unknown path is a 404 and is listed in ``unknown``, so the demo can say if a
spider asked for something the platform does not have.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from artwatch.demo_images import Picture

PLATFORMS = ("mastodon", "rss", "bluesky")
TAG = "aiart"
FEED_URI = "at://did:plc:artwatchdemo/app.bsky.feed.generator/aiart"
CAPTIONS = (
    "Made this in five minutes with my favourite model",
    "Prompt in the comments! #aiart",
    "New drop from my AI studio",
    "When the AI understands the assignment",
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a crawl fetches many images at once; the default backlog is 5


class DemoPlatform:
    """Serves the demo posts on 127.0.0.1; use as a context manager."""

    def __init__(self, pictures: list[Picture], now: datetime | None = None):
        self.pictures = pictures
        self.now = now or datetime.now(UTC)
        self.unknown: list[str] = []
        self.served: dict[str, int] = {}
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.routes = self._routes()

    def __enter__(self) -> DemoPlatform:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posted_on(self, platform: str) -> list[Picture]:
        """The pictures posted on one platform, newest first."""
        return [p for n, p in enumerate(self.pictures) if PLATFORMS[n % len(PLATFORMS)] == platform]

    def source_args(self) -> dict[str, dict[str, str]]:
        """Spider arguments that point each demo source at this server."""
        return {
            "mastodon": {"base_url": self.base, "tags": TAG},
            "rss": {"feeds": f"{self.base}/feeds/{TAG}.rss"},
            "bluesky": {"base_url": self.base, "feeds": FEED_URI},
        }

    def image_url(self, picture: Picture) -> str:
        return f"{self.base}/media/{picture.name}"

    def _routes(self) -> dict[str, tuple[str, bytes]]:
        routes = {f"/media/{p.name}": ("image/jpeg", p.data) for p in self.pictures}
        routes[f"/api/v1/timelines/tag/{TAG}"] = ("application/json", self._mastodon())
        routes[f"/feeds/{TAG}.rss"] = ("application/rss+xml", self._rss())
        routes["/xrpc/app.bsky.feed.getFeed"] = ("application/json", self._bluesky())
        return routes

    def _posts(self, platform: str) -> list[tuple[int, Picture, datetime, str]]:
        return [
            (number, picture, self.now - timedelta(minutes=7 * number + 1), CAPTIONS[number % 4])
            for number, picture in enumerate(self.posted_on(platform), start=1)
        ]

    def _mastodon(self) -> bytes:
        statuses = [
            {
                "id": str(1_000_000 - number),
                "url": f"{self.base}/@painter{number}/{1_000_000 - number}",
                "uri": f"{self.base}/users/painter{number}/statuses/{1_000_000 - number}",
                "created_at": when.isoformat().replace("+00:00", "Z"),
                "account": {
                    "id": str(number),
                    "acct": f"painter{number}",
                    "username": f"painter{number}",
                    "display_name": f"AI Painter {number}",
                },
                "content": f"<p>{escape(caption)} <a href='#'>#{TAG}</a></p>",
                "tags": [{"name": TAG}, {"name": "stablediffusion"}],
                "sensitive": False,
                "reblog": None,
                "media_attachments": [
                    {"type": "image", "url": self.image_url(picture), "remote_url": None}
                ],
            }
            for number, picture, when, caption in self._posts("mastodon")
        ]
        return json.dumps(statuses).encode()

    def _rss(self) -> bytes:
        items = "".join(
            f"<item><title>{escape(caption)}</title>"
            f"<link>{self.base}/gallery/{number}</link><guid>demo-rss-{number}</guid>"
            f"<pubDate>{format_datetime(when)}</pubDate><category>{TAG}</category>"
            f"<dc:creator>prompt_wizard_{number}</dc:creator>"
            f'<media:content url="{self.image_url(picture)}" medium="image" type="image/jpeg"/>'
            "</item>"
            for number, picture, when, caption in self._posts("rss")
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>#{TAG} gallery</title><link>{self.base}/</link>{items}</channel></rss>"
        ).encode()

    def _bluesky(self) -> bytes:
        feed = []
        for number, picture, when, caption in self._posts("bluesky"):
            stamp = when.isoformat().replace("+00:00", "Z")
            did = f"did:plc:demoartist{number}"
            feed.append(
                {"post": {
                    "uri": f"at://{did}/app.bsky.feed.post/3demo{number}",
                    "cid": f"bafydemo{number}",
                    "author": {"did": did, "handle": f"generator{number}.bsky.social",
                               "displayName": f"Generator {number}"},
                    "record": {"text": f"{caption} #{TAG}", "createdAt": stamp, "tags": [TAG]},
                    "embed": {"$type": "app.bsky.embed.images#view",
                              "images": [{"fullsize": self.image_url(picture), "alt": ""}]},
                    "labels": [{"val": "ai-generated"}],
                    "indexedAt": stamp,
                }}
            )  # fmt: skip
        return json.dumps({"feed": feed}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                route = platform.routes.get(path)
                if route is None:
                    if path != "/robots.txt":
                        platform.unknown.append(self.path)
                    self.send_error(404)
                    return
                platform.served[path] = platform.served.get(path, 0) + 1
                content_type, body = route
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
