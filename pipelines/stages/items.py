"""What the spiders and the stages hand each other, besides the spiders' ``PostItem``.

The crawl cursor goes both ways, explicitly. Before its first request a spider sends the
``cursors_requested`` signal (``await crawler.signals.send_catch_log_async(
signal=cursors_requested, spider=spider)``); every receiver returns a dict of the cursors it
has stored for that spider (``{cursor key: value}``) and the spider merges them. The posts
stage answers with what it loaded from MongoDB in ``open_spider``, which Scrapy runs before it
first iterates ``start()``; with no receiver a spider starts with no cursors. After each walk
that finished cleanly the spider yields a ``CursorItem`` with the newest marker it saw; the
posts stage saves it once every post of that walk is stored, then drops it. ``CrawledPost``
and ``CrawledImage`` are what the stages after the posts stage work on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import scrapy

cursors_requested = object()  # a Scrapy signal; see the module docstring


class CursorItem(scrapy.Item):
    """Yielded after the last PostItem of a finished walk over one (instance, query).

    ``value`` is the newest marker seen (a status id, a timestamp, a fullname): the next run
    fetches only what is newer. It is saved only once every PostItem of that walk has been
    stored, and never exported, so a killed crawl starts its next walk from the old cursor
    and the skipped-as-seen posts cost nothing.
    """

    key = scrapy.Field()  # "<platform>:<instance>:<query>", the same as PostItem.cursor_key
    value = scrapy.Field()


@dataclass
class CrawledImage:
    """One image of a post on its way through the stages; ``data`` is dropped once used."""

    url: str
    data: bytes | None = None
    content_type: str = ""
    sha256: str | None = None
    stored: dict[str, Any] | None = None  # the images document, when already stored
    fields: dict[str, Any] | None = None  # a new images document (fingerprint, thumbnail...)
    fingerprint: Any = None  # pipelines.engine.fingerprint.Fingerprint
    matches: list[Any] = field(default_factory=list)  # pipelines.stages.match.Found
    drop: str | None = None  # why this image was given up, a stats key suffix


@dataclass
class CrawledPost:
    """What the media, match and store stages work on; ``post`` is the document to store."""

    post: dict[str, Any]
    cursor_key: str | None
    image_urls: list[str]
    image_headers: dict[str, str] = field(default_factory=dict)
    screenshot_png: bytes | None = None
    images: list[CrawledImage] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.post["_id"]
