"""The Scrapy add-on that lets a bare ``scrapy crawl NAME`` work with nothing configured.

``crawler/settings.py`` names ``EmbeddedDatabase`` in ``ADDONS``: when ``MONGODB_URI`` is
unset (and ``ARTWATCH_STORE`` is not ``none``) it starts, or reuses, the nx-27017 server under
``ARTWATCH_DATA_DIR`` before any component reads the URI, and stops it at the end of the crawl
if it started it.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from scrapy import signals

from artwatch.embedded import EmbeddedMongo

logger = logging.getLogger(__name__)


class EmbeddedDatabase:
    """Add-on: start the embedded database when the crawl has no MONGODB_URI."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.server: EmbeddedMongo | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> EmbeddedDatabase:
        return cls(crawler)

    def update_settings(self, settings: Any) -> None:
        if settings.get("ARTWATCH_STORE") == "none" or settings.get("ARTWATCH_MONGODB_URI"):
            return
        self.server = EmbeddedMongo(Path(settings.get("ARTWATCH_DATA_DIR") or "var"))
        uri = self.server.start()
        logger.info("MONGODB_URI is not set: using the embedded database at %s", uri)
        # Highest priority: the project's own ARTWATCH_MONGODB_URI (None) must not win.
        settings.set("ARTWATCH_MONGODB_URI", uri, priority="cmdline")
        self.crawler.signals.connect(self.stop, signal=signals.engine_stopped)
        # A crawl that fails before its engine starts (a bad spider argument) never sends
        # engine_stopped; the server must not outlive the process then either.
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
