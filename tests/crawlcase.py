"""Invented Mastodon replay cases whose images are generated, for the crawl-to-hit tests.

``MastodonCase`` writes a case folder for the replay server of ``tests.replay``: hashtag
timeline pages (40 statuses each, ``Link: rel="next"``) and the image files the statuses
point at, served as ``{base}/media/<name>`` by ``CrawlReplayServer``. Images come from
``artwatch.samples`` (procedural paintings), edited the ways reposts edit them. Nothing here
is recorded from a real platform: every status is invented.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageEnhance

from artwatch.samples import artwork, encode
from crawler import settings as project
from tests.replay import ReplayServer

PAGE_SIZE = 40
TAG = "aiart"
TIMELINE = f"/api/v1/timelines/tag/{TAG}"


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    return encode(image.convert("RGB"), "JPEG", quality=quality)


def screenshot(image: Image.Image) -> Image.Image:
    """A phone screenshot of a post: the picture across the screen, app chrome and text."""
    canvas = Image.new("RGB", (1080, 1920), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 1080, 160), fill=(30, 30, 60))
    for row in range(12):
        draw.text((60, 1300 + row * 50), "so pretty!! who made this? #aiart " * 2, fill=(20,) * 3)
    height = 1000 * image.height // image.width
    canvas.paste(image.resize((1000, height)), (40, 300))
    return canvas


def text_overlay(image: Image.Image) -> Image.Image:
    copy = image.copy()
    draw = ImageDraw.Draw(copy)
    draw.rectangle((0, copy.height - 60, copy.width, copy.height), fill=(0, 0, 0))
    draw.text((20, copy.height - 45), "made with AI lol #aiart", fill=(255, 255, 255))
    return copy


EDITS = {
    "resize": lambda im: im.resize((im.width // 2, im.height // 2)),
    "crop": lambda im: im.crop((0, 0, int(im.width * 0.6), int(im.height * 0.6))),
    "recolour": lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.25)).enhance(
        0.5
    ),
    "text": text_overlay,
    "screenshot": screenshot,
}


@dataclass
class MastodonCase:
    """Builds statuses and files; ``write(folder)`` lays them out for the replay server."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)

    def add_file(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        self.files[name] = (data, content_type)
        return "{base}/media/" + name

    def add_status(self, urls: list[str], text: str = "new piece #aiart") -> str:
        """A status with these image URLs; ids grow, so the newest is added last."""
        number = 1000 + len(self.statuses)
        created = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=number)
        self.statuses.append(
            {
                "id": str(number),
                "uri": f"https://example.social/users/bot/statuses/{number}",
                "url": f"https://example.social/@bot/{number}",
                "created_at": created.isoformat().replace("+00:00", "Z"),
                "account": {"id": "7", "acct": "bot@example.social", "display_name": "Bot"},
                "content": f"<p>{text}</p>",
                "tags": [{"name": TAG}],
                "sensitive": False,
                "media_attachments": [{"type": "image", "url": url} for url in urls],
            }
        )
        return str(number)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        newest_first = sorted(self.statuses, key=lambda s: int(s["id"]), reverse=True)
        pages = [
            newest_first[start : start + PAGE_SIZE]
            for start in range(0, len(newest_first), PAGE_SIZE)
        ] or [[]]
        index = []
        for number, page in enumerate(pages):
            query = "?limit=40&only_media=true"
            if number:
                query += f"&max_id={pages[number - 1][-1]['id']}"
            headers = {"Content-Type": "application/json"}
            if number + 1 < len(pages):
                headers["Link"] = (
                    f"<{{base}}{TIMELINE}?limit=40&only_media=true&max_id={page[-1]['id']}>; "
                    'rel="next"'
                )
            body = f"page{number}.json"
            (folder / body).write_text(json.dumps(page), encoding="utf-8")
            index.append({"path": TIMELINE + query, "headers": headers, "body_file": body})
        for name, (data, content_type) in self.files.items():
            (folder / name).write_bytes(data)
            index.append(
                {"path": f"/media/{name}", "headers": {"Content-Type": content_type},
                 "body_file": name}
            )  # fmt: skip
        index.extend(self.routes)
        (folder / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
        return folder


class CrawlReplayServer(ReplayServer):
    """The replay server for crawls that fetch many images at once.

    Images are found by a dict lookup instead of the linear scan, which is quadratic over
    thousands of files. ``delay`` slows image answers down, so a test can kill a crawl while
    it is in the middle.
    """

    def __init__(self, case_dir: Path, delay: float = 0.0, port: int = 0):
        super().__init__(case_dir, port=port)
        self.delay = delay
        self.media = {e["path"]: e for e in self.entries if e["path"].startswith("/media/")}

    def _match(self, method: str, target: str, headers: dict[str, str]) -> dict | None:
        return self.media.get(target) or super()._match(method, target, headers)

    def _body(self, entry: dict) -> bytes:
        if self.delay and entry["path"].startswith("/media/"):
            time.sleep(self.delay)
        return super()._body(entry)


def portfolio_image(seed: int) -> Image.Image:
    return artwork(seed, (720, 540))


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def crawl_settings(mongo_uri: str, db_name: str, **overrides: Any) -> dict[str, Any]:
    """The project's settings (pipelines, guard, run record) pointed at the test database,
    without the politeness delays and platform defaults of config/sources.yaml."""
    values = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    values.update(
        ARTWATCH_STORE="mongodb",
        ARTWATCH_MONGODB_URI=mongo_uri,
        ARTWATCH_DB_NAME=db_name,
        ARTWATCH_ALLOW_PRIVATE_HOSTS=["127.0.0.1"],
        ARTWATCH_PLATFORMS={},
        ARTWATCH_FINGERPRINT_WORKERS=2,
        ROBOTSTXT_OBEY=False,
        AUTOTHROTTLE_ENABLED=False,
        DOWNLOAD_DELAY=0,
        CONCURRENT_REQUESTS_PER_DOMAIN=8,
        LOG_LEVEL="DEBUG",
    )
    values.update(overrides)
    return values
