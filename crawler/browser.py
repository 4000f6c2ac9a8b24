"""Rendering pages in Debian's Chromium through scrapy-playwright, for browser-only platforms.

A spider that needs a logged-in browser merges ``playwright_settings()`` into its
``custom_settings`` and puts ``render_meta(...)`` on its requests. The page's own JavaScript
calls the platform's API (and signs those calls itself); an ``ApiCapture`` keeps the answers to
the API paths the spider names. ``render`` runs in the page after navigation: it waits until
an answer arrived or the page shows a wall (login, captcha), optionally scrolls for more
answers, reads their bodies and takes the PNG screenshot that becomes the post's evidence. The
result lands in ``response.meta["playwright_page_methods"][0].result`` as a ``Rendered``; the
page itself is closed by scrapy-playwright, so nothing leaks.
``python -m crawler.browser URL PATH`` saves a person's login for ``XHS_STORAGE_STATE``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy_playwright.page import PageMethod

if TYPE_CHECKING:
    from playwright.async_api import Page
    from playwright.async_api import Response as PlaywrightResponse

# Playwright itself is imported where a page is driven: every process that lists the spiders
# (the CLI validating sources.yaml) imports this module, and only a browser crawl needs it.

PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# Debian's package, not `playwright install`: one browser the system keeps patched.
CHROMIUM_LAUNCH_OPTIONS = {
    "executable_path": "/usr/bin/chromium",
    "headless": True,
    "args": [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ],
}
RENDER_TIMEOUT_MS = 20_000
SCROLL_WAIT_MS = 4_000
POLL_MS = 100


def playwright_settings() -> dict[str, Any]:
    """Scrapy settings that route requests marked ``playwright`` through Chromium."""
    return {
        "DOWNLOAD_HANDLERS": {"http": PLAYWRIGHT_HANDLER, "https": PLAYWRIGHT_HANDLER},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": CHROMIUM_LAUNCH_OPTIONS,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 1,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": RENDER_TIMEOUT_MS,
    }


@dataclass(frozen=True)
class Captured:
    """One API answer the page received: where from, its HTTP status and its raw body."""

    url: str
    status: int
    body: bytes | None


class ApiCapture:
    """A Playwright ``response`` event handler keeping the page's answers from ``paths``.

    Why an event handler (scrapy-playwright's ``playwright_page_event_handlers``) and not
    ``page.expect_response`` in a page method: the app asks for its first results while the
    page loads, before any page method runs, and a handler in the request's meta is attached
    before navigation, so no answer is missed. The handler only keeps the Playwright response
    (it runs synchronously, in arrival order); ``render`` reads the bodies while the page is
    still open. A path is matched whatever the host, so the real API host and a local replay
    server are the same to it. One capture belongs to one request.
    """

    def __init__(self, *paths: str):
        self.paths = paths
        self.responses: list[PlaywrightResponse] = []

    def __call__(self, response: PlaywrightResponse) -> None:
        if urlsplit(response.url).path in self.paths:
            self.responses.append(response)

    def __len__(self) -> int:
        return len(self.responses)

    async def read(self) -> tuple[Captured, ...]:
        return tuple([await _captured(response) for response in self.responses])


async def _captured(response: PlaywrightResponse) -> Captured:
    try:
        body: bytes | None = await response.body()
    except Exception:  # a redirect, or a body the browser already dropped: the status still says
        body = None
    return Captured(response.url, response.status, body)


@dataclass(frozen=True)
class Rendered:
    """What ``render`` saw: whether an answer or the ready selector came, the API answers
    captured (in arrival order) and the screenshot."""

    ready: bool
    screenshot: bytes | None
    answers: tuple[Captured, ...] = ()


async def render(
    page: Page,
    ready: str,
    capture: ApiCapture | None = None,
    scrolls: int = 0,
    screenshot: bool = False,
) -> Rendered:
    """Wait until ``capture`` holds an answer or ``ready`` is attached, then scroll up to
    ``scrolls`` times, each while the app answers the scroll with one more API call.

    A page that shows neither is reported (``ready=False``), not raised, so the spider can
    tell an unknown page from a failed download and say which it was.
    """
    arrived = await _until(page, lambda: _answered(page, capture, ready), RENDER_TIMEOUT_MS)
    if not arrived:
        return Rendered(ready=False, screenshot=None)
    for _ in range(scrolls if capture is not None and len(capture) else 0):
        before = len(capture)
        await page.mouse.wheel(0, 20_000)
        if not await _until(page, lambda n=before: _grew(capture, n), SCROLL_WAIT_MS):
            break
    answers = await capture.read() if capture is not None else ()
    shot = await page.screenshot(type="png") if screenshot else None
    return Rendered(ready=True, screenshot=shot, answers=answers)


async def _answered(page: Page, capture: ApiCapture | None, ready: str) -> bool:
    if capture is not None and len(capture):
        return True
    return bool(ready) and await page.locator(ready).count() > 0


async def _grew(capture: ApiCapture, before: int) -> bool:
    return len(capture) > before


async def _until(page: Page, condition: Callable[[], Any], timeout_ms: int) -> bool:
    """Poll ``condition`` (a coroutine function) until true or ``timeout_ms`` passed; polling,
    because an answer lands in Python (the capture) and a wall in the page (a selector)."""
    for _ in range(max(1, timeout_ms // POLL_MS)):
        if await condition():
            return True
        await page.wait_for_timeout(POLL_MS)
    return bool(await condition())


def render_meta(
    context: str,
    context_kwargs: dict[str, Any],
    ready: str,
    *,
    capture: ApiCapture | None = None,
    scrolls: int = 0,
    screenshot: bool = False,
) -> dict[str, Any]:
    """Request meta that renders the page in the named browser context, ``capture`` listening
    to its responses from before navigation."""
    method = PageMethod(render, ready, capture=capture, scrolls=scrolls, screenshot=screenshot)
    meta = {
        "playwright": True,
        "playwright_context": context,
        "playwright_context_kwargs": context_kwargs,
        "playwright_page_methods": [method],
    }
    if capture is not None:
        meta["playwright_page_event_handlers"] = {"response": capture}
    return meta


def rendered(meta: dict[str, Any]) -> Rendered:
    """The ``Rendered`` result of a request built with ``render_meta``."""
    return meta["playwright_page_methods"][0].result


def _ask() -> None:
    input("Log in in the browser window, then press Enter here to save the session... ")


def save_storage_state(
    url: str, path: Path, *, headless: bool = False, wait: Callable[[], object] = _ask
) -> Path:
    """Open ``url`` in a visible Chromium, wait for the person to log in, save the session to
    ``path`` as a Playwright storage state (cookies and local storage). The file is a live
    login: it is written readable by its owner only."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**{**CHROMIUM_LAUNCH_OPTIONS, "headless": headless})
        context = browser.new_context()
        context.new_page().goto(url)
        wait()
        state = context.storage_state()
        browser.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(state, file)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.browser",
        description="Log in to a site in Chromium and save the session for ArtWatch.",
    )
    parser.add_argument("url", help="e.g. https://www.xiaohongshu.com")
    parser.add_argument("path", type=Path, help="where to write the storage state (JSON)")
    args = parser.parse_args(argv)
    saved = save_storage_state(args.url, args.path)
    print(f"Saved. Set XHS_STORAGE_STATE={saved.resolve()} (keep this file private).")


if __name__ == "__main__":
    main()
