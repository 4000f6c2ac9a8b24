"""Politeness beyond AutoThrottle: wait out 429/503 answers and exhausted rate-limit windows.

``RateLimitRetryMiddleware`` sleeps, without blocking the reactor, as long as the platform's
headers ask (capped at ``ARTWATCH_RATELIMIT_MAX_WAIT``), then retries up to
``ARTWATCH_RATELIMIT_RETRIES`` times; an answer that says the window is spent or nearly spent
paces the next requests. Every wait is counted under ``artwatch/ratelimit/...``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.http import Request, Response
from scrapy.utils.asyncio import sleep

logger = logging.getLogger(__name__)

RATE_LIMITED = (429, 503)
# Fewer requests left in the window than this: pace them out instead of spending them at once.
LOW_REMAINING = 10
# Values above this are epoch timestamps, below it a number of seconds to wait.
_EPOCH_THRESHOLD = 1_000_000_000


def wait_seconds(response: Response, now: float | None = None) -> float | None:
    """Seconds the response asks us to wait, from the first header that says; None if none.

    ``Retry-After`` comes in seconds or as an HTTP date, ``RateLimit-Reset`` in seconds,
    ``X-RateLimit-Reset`` as seconds, epoch seconds or an ISO time.
    """
    now = time.time() if now is None else now
    for name in ("Retry-After", "RateLimit-Reset", "X-RateLimit-Reset"):
        raw = response.headers.get(name)
        if raw:
            parsed = _parse_wait(raw.decode("latin-1").strip(), now)
            if parsed is not None:
                return max(0.0, parsed)
    return None


def _parse_wait(value: str, now: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return number - now if number > _EPOCH_THRESHOLD else number
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - now


class RateLimitRetryMiddleware:
    """Downloader middleware: waits as long as the platform asks (capped), then retries.

    It sits just above Scrapy's RetryMiddleware, and 503 is not in RETRY_HTTP_CODES: a blind
    immediate retry is what a 503 asks us not to do.
    """

    def __init__(self, stats, max_wait: float, default_wait: float, retries: int):
        self.stats = stats
        self.max_wait = max_wait
        self.default_wait = default_wait
        self.retries = retries

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(
            crawler.stats,
            max_wait=settings.getfloat("ARTWATCH_RATELIMIT_MAX_WAIT", 900.0),
            default_wait=settings.getfloat("ARTWATCH_RATELIMIT_DEFAULT_WAIT", 60.0),
            retries=settings.getint("ARTWATCH_RATELIMIT_RETRIES", 3),
        )

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status in RATE_LIMITED:
            return await self._retry(request, response)
        remaining = _as_float(
            response.headers.get("X-RateLimit-Remaining")
            or response.headers.get("RateLimit-Remaining")
        )
        if remaining is not None and remaining < 1:
            wait = self._capped(wait_seconds(response))
            if wait > 0:
                self.stats.inc_value("artwatch/ratelimit/window_exhausted")
                await self._sleep(wait)
        elif remaining is not None and remaining < LOW_REMAINING:
            # Spread what is left of the window over the time until it resets.
            reset = wait_seconds(response)
            if reset:
                self.stats.inc_value("artwatch/ratelimit/window_low")
                await self._sleep(self._capped(reset / remaining))
        return response

    async def _retry(self, request: Request, response: Response) -> Request | Response:
        attempt = request.meta.get("ratelimit_attempt", 0) + 1
        if attempt > self.retries:
            self.stats.inc_value("artwatch/ratelimit/gave_up")
            logger.warning(
                "still %s after %d waits, giving up: %s", response.status, self.retries, request.url
            )
            return response
        wait = self._capped(wait_seconds(response))
        self.stats.inc_value(f"artwatch/ratelimit/http_{response.status}")
        logger.info(
            "%s: waiting %.1f s before retry %d of %s",
            response.status,
            wait,
            attempt,
            request.url,
        )
        await self._sleep(wait)
        retry = request.replace(dont_filter=True)
        retry.meta["ratelimit_attempt"] = attempt
        return retry

    def _capped(self, wait: float | None) -> float:
        return min(self.default_wait if wait is None else wait, self.max_wait)

    async def _sleep(self, seconds: float) -> None:
        self.stats.inc_value("artwatch/ratelimit/waits")
        self.stats.inc_value("artwatch/ratelimit/wait_seconds", round(seconds, 3))
        await sleep(seconds)


def _as_float(raw: bytes | None) -> float | None:
    try:
        return float(raw.decode("latin-1")) if raw is not None else None
    except ValueError:
        return None
