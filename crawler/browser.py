"""Rendering pages in Debian's Chromium through scrapy-playwright, for browser-only platforms.

A spider that needs a logged-in browser merges ``playwright_settings()`` into its
``custom_settings`` and puts ``render_meta(...)`` on its requests. ``render`` runs in the page
after navigation: it waits until the page shows either content or a wall (login, captcha),
optionally scrolls for more results, and takes the PNG screenshot that becomes the post's
evidence. The result lands in ``response.meta["playwright_page_methods"][0].result`` as a
``Rendered``; the page itself is closed by scrapy-playwright, so nothing leaks.
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

from scrapy_playwright.page import PageMethod

if TYPE_CHECKING:
    from playwright.async_api import Page

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
class Rendered:
    """What ``render`` saw: whether the ready selector appeared, and the screenshot."""

    ready: bool
    screenshot: bytes | None


async def render(
    page: Page, ready: str, item_selector: str = "", scrolls: int = 0, screenshot: bool = False
) -> Rendered:
    """Wait for ``ready``, scroll up to ``scrolls`` times while ``item_selector`` grows.

    A page that never shows ``ready`` is reported (``ready=False``), not raised, so the
    spider can tell an unknown page from a failed download and say which it was.
    """
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_selector(ready, state="attached", timeout=RENDER_TIMEOUT_MS)
    except PlaywrightTimeout:
        return Rendered(ready=False, screenshot=None)
    for _ in range(scrolls):
        if not await _scroll_for_more(page, item_selector):
            break
    shot = await page.screenshot(type="png") if screenshot else None
    return Rendered(ready=True, screenshot=shot)


async def _scroll_for_more(page: Page, item_selector: str) -> bool:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    before = await page.locator(item_selector).count()
    if not before:
        return False  # a wall or an empty result: scrolling will not bring items
    await page.mouse.wheel(0, 20_000)
    try:
        await page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length > n",
            arg=[item_selector, before],
            timeout=SCROLL_WAIT_MS,
        )
    except PlaywrightTimeout:
        return False
    return True


def render_meta(
    context: str,
    context_kwargs: dict[str, Any],
    ready: str,
    *,
    item_selector: str = "",
    scrolls: int = 0,
    screenshot: bool = False,
) -> dict[str, Any]:
    """Request meta that renders the page in the named browser context."""
    method = PageMethod(
        render, ready, item_selector=item_selector, scrolls=scrolls, screenshot=screenshot
    )
    return {
        "playwright": True,
        "playwright_context": context,
        "playwright_context_kwargs": context_kwargs,
        "playwright_page_methods": [method],
    }


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
