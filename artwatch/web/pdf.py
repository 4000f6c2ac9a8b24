"""The evidence report printed to PDF by Debian's Chromium (headless, through Playwright).

The PDF is printed from the same self-contained ``report.html`` the pack holds, so both say
the same thing; Chromium lays out Chinese with the system's fonts (``fonts-noto-cjk``). One
short-lived browser per pack: a pack is a rare, deliberate download, and a browser that lives
only as long as the request leaves nothing to clean up at shutdown; at most ``BROWSERS`` run
at once, so a burst of downloads queues instead of filling the memory. The report holds post text
and links from strangers, so pages run without JavaScript and every network request is
refused (the pictures are inline ``data:`` URLs, which never reach the network). Without a
working Chromium the printer raises ``PdfUnavailable`` saying why, and the pack goes without.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

from crawler.browser import CHROMIUM_LAUNCH_OPTIONS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

log = logging.getLogger("artwatch.web.pdf")

CHROMIUM = str(CHROMIUM_LAUNCH_OPTIONS["executable_path"])
PRINT_TIMEOUT_MS = 30_000
BROWSERS = 2
_browsers = threading.BoundedSemaphore(BROWSERS)


class PdfUnavailable(Exception):
    """The report could not be printed; the message says why, in one line."""


def _why(error: Exception) -> str:
    # Playwright's messages carry a multi-line call log; the first line is the reason.
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@contextmanager
def printer(executable: str = CHROMIUM) -> Iterator[Callable[[str], bytes]]:
    """A function printing an HTML document to PDF bytes, in a browser started for the block.

    Playwright's sync API: enter it in a worker thread, never on the event loop. When the
    browser cannot start, that is logged once and every call raises ``PdfUnavailable``.
    """
    from playwright.sync_api import Error, sync_playwright

    with _browsers, sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                **{**CHROMIUM_LAUNCH_OPTIONS, "executable_path": executable}
            )
        except Error as error:
            why = f"Chromium could not start ({executable}): {_why(error)}"
            log.warning("evidence pack without report.pdf: %s", why)
        else:
            try:
                yield partial(_print, browser)
            finally:
                browser.close()
            return
        yield partial(_unavailable, why)


def _unavailable(why: str, html: str) -> bytes:
    raise PdfUnavailable(why)


def _print(browser: Browser, html: str) -> bytes:
    from playwright.sync_api import Error

    page = browser.new_page(java_script_enabled=False)
    try:
        page.set_default_timeout(PRINT_TIMEOUT_MS)
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        return page.pdf(format="A4", print_background=True)
    except Error as error:
        why = f"Chromium could not print the report: {_why(error)}"
        log.warning("evidence pack without report.pdf: %s", why)
        raise PdfUnavailable(why) from None
    finally:
        page.close()
