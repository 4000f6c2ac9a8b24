"""Stage 2 of the item pipeline: download every image of a post and fingerprint the new ones.

Images are fetched through Scrapy's own downloader (``engine.download_async``), so throttling,
retries, proxies, robots.txt and the private-address guard apply: every request is marked
``untrusted_url`` (``pipelines.netguard.PrivateAddressGuard`` refuses private addresses,
redirects included) and carries ``download_maxsize`` (``ARTWATCH_IMAGE_MAXSIZE``, 25 MB). The
body stays in memory: a content-type and magic-byte check, the sha256, then, for bytes not
already in ``images``, decoding (with the pixel and scan limits of
``pipelines.engine.decode``), fingerprint and thumbnail in a process pool sized to the cores,
so hashing never runs on the reactor thread. Each image has a CPU-time budget there
(``ARTWATCH_DECODE_CPU_SECONDS``) and each worker a memory limit
(``ARTWATCH_DECODE_MEMORY_MB``): a worker the budget ended costs only its image
(``decode_timeout``) and is replaced (``pipelines.stages.workers``). Such drops, like every
refusal of the bytes themselves, are final: the post is marked processed and the cursor moves,
so a hostile file is not met again. An image already stored is only linked to the post. Every
image given up is counted under ``artwatch/drops/<reason>`` and recorded on its
``CrawledImage``; it never ends the crawl nor costs the post its other images.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from multiprocessing import get_context
from typing import Any

from PIL import Image
from pymongo.errors import ConnectionFailure
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from twisted.internet.defer import CancelledError

from pipelines.engine.decode import decode
from pipelines.engine.descriptor import model_status
from pipelines.engine.fingerprint import Fingerprint, fingerprint, is_current
from pipelines.engine.thumbnails import thumbnail
from pipelines.errors import ImageRejected
from pipelines.stages.items import CrawledImage, CrawledPost
from pipelines.stages.posts import StoreStage, stop_for_store
from pipelines.stages.workers import WorkerDied, WorkerPool

logger = logging.getLogger(__name__)

DEFAULT_MAXSIZE = 25 * 1024 * 1024
# Screenshots are evidence for a person to look at, not for matching: this side is plenty.
SCREENSHOT_SIDE = 1280
# Content types a server may honestly send image bytes with; the magic bytes decide.
BINARY_TYPES = ("application/octet-stream", "binary/octet-stream", "application/binary")
WORKER_NICENESS = 10
# CPU seconds one image may take in a worker: ordinary images take well under one (a 49 MP
# PNG about one), a progressive-JPEG scan bomb below the scan limit several, above it minutes.
DEFAULT_CPU_SECONDS = 10.0
# Data one worker may allocate: about 250 MB of libraries and models, plus the largest
# decode (a 50 MP RGBA PNG is 200 MB of pixels; a 50 MP progressive JPEG's coefficients up
# to 300 MB), with room to spare. An allocation beyond it is refused (``out_of_memory``).
DEFAULT_MEMORY_MB = 1024
# Failures a later crawl may not meet again: the post is stored but not marked processed.
TRANSIENT = ("download_failed", "http_5xx", "http_429")

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff(data: bytes) -> str | None:
    """The image format the first bytes announce, or None when they announce none."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
        return "avif"
    return None


def analyse(data: bytes) -> dict[str, Any]:
    """Worker: fingerprint, thumbnail and size of untrusted bytes, or why they were refused.

    Runs in a pool process; returns a plain dict because ``ImageRejected`` does not survive
    pickling with its reason.
    """
    try:
        work = decode(data)
        fp = fingerprint(work)
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except ImageRejected as error:
        return {"rejected": error.reason, "detail": str(error)}
    except MemoryError:
        return {"rejected": "out_of_memory", "detail": "over the worker's memory limit"}
    return {
        "fingerprint": fp.to_document(),
        "thumbnail": thumbnail(work),
        "width": width,
        "height": height,
    }


def screenshot_jpeg(png: bytes) -> bytes | None:
    """Worker: a browser screenshot (PNG) as a JPEG no larger than SCREENSHOT_SIDE."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            return thumbnail(image, SCREENSHOT_SIDE)
    except (OSError, ValueError, MemoryError, Image.DecompressionBombError):
        return None


def _ready() -> bool:
    return True


def warm_up(pool: Executor, workers: int) -> None:
    """Start the ``workers`` of ``pool`` and wait until they answer."""
    if isinstance(pool, WorkerPool):
        pool.start()
    for future in [pool.submit(_ready) for _ in range(workers * 2)]:
        future.result()


def make_pool(kind: str, workers: int, cpu_seconds: float = 0.0, memory_mb: int = 0) -> Executor:
    """A process pool (the default: no GIL shared with the reactor) or a thread pool.

    The CPU budget and memory limit (0: none) apply to processes only: a thread cannot be
    stopped, so the thread pool is for benchmarks, not for untrusted images."""
    if kind == "thread":
        return ThreadPoolExecutor(workers, thread_name_prefix="artwatch-fingerprint")
    # Not fork: the crawl process has a reactor, a driver pool and threads. A forkserver
    # with this module preloaded starts workers in milliseconds instead of re-importing
    # OpenCV and NumPy in each (seconds), and serves every later crawl of the same process.
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return WorkerPool(context, workers, cpu_seconds, memory_mb, initializer=_yield_cpu)


def _yield_cpu() -> None:
    # Fingerprinting is batch work; the reactor (downloads, timers) and the database are
    # latency-bound. On a machine with few cores the kernel should run them first.
    os.nice(WORKER_NICENESS)


class ImagesStage(StoreStage):
    """Download, check, hash and fingerprint each image of a ``CrawledPost``."""

    def __init__(self, crawler: Any):
        super().__init__(crawler)
        self.maxsize = crawler.settings.getint("ARTWATCH_IMAGE_MAXSIZE", DEFAULT_MAXSIZE)
        self.pool_kind = crawler.settings.get("ARTWATCH_FINGERPRINT_POOL", "process")
        self.workers = crawler.settings.getint("ARTWATCH_FINGERPRINT_WORKERS", 0) or (
            os.cpu_count() or 1
        )
        self.pool: Executor | None = None
        self._inflight: dict[str, asyncio.Future] = {}
        # Backpressure: listings bring posts far faster than images can be fingerprinted;
        # only this many posts hold downloaded bytes at once, the rest wait with none.
        posts = crawler.settings.getint("ARTWATCH_MEDIA_CONCURRENCY", 0) or 4 * self.workers
        self.cpu_seconds = crawler.settings.getfloat(
            "ARTWATCH_DECODE_CPU_SECONDS", DEFAULT_CPU_SECONDS
        )
        self.memory_mb = crawler.settings.getint("ARTWATCH_DECODE_MEMORY_MB", DEFAULT_MEMORY_MB)
        self.slots = asyncio.Semaphore(posts)

    async def open_spider(self) -> None:
        model_status()  # says once, here, when the learned descriptor is off and why
        self.pool = make_pool(self.pool_kind, self.workers, self.cpu_seconds, self.memory_mb)
        # Workers start on first use, from the submitting thread, and wait for the
        # forkserver's imports: start them now, from a helper thread, not mid-crawl from
        # the reactor thread.
        await asyncio.get_running_loop().run_in_executor(None, warm_up, self.pool, self.workers)

    async def close_spider(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, CrawledPost):
            return item
        async with self.slots:
            item.images = await asyncio.gather(
                *(self._download(item, url) for url in item.image_urls)
            )
            await self._lookup(item)
            jobs = [self._analyse(image) for image in item.images if _needs_analysis(image)]
            if item.screenshot_png:
                jobs.append(self._screenshot(item))
            await asyncio.gather(*jobs)
        return item

    async def _download(self, post: CrawledPost, url: str) -> CrawledImage:
        image = CrawledImage(url)
        request = Request(
            url,
            headers=post.image_headers or None,
            meta={"untrusted_url": True, "download_maxsize": self.maxsize},
            dont_filter=True,
        )
        try:
            response = await self.crawler.engine.download_async(request)
        except IgnoreRequest as error:
            # The guard counted its refusal already; robots.txt is the other IgnoreRequest.
            reason = "robots_txt" if "robots.txt" in str(error) else "private_address"
            return self._give_up(image, reason, str(error), count=reason != "private_address")
        except (DownloadCancelledError, CancelledError) as error:
            return self._give_up(image, "too_large", f"over {self.maxsize} bytes ({error})")
        except Exception as error:
            return self._give_up(image, "download_failed", f"{type(error).__name__}: {error}")
        if response.status != 200:
            reason = "http_5xx" if response.status >= 500 else f"http_{response.status}"
            return self._give_up(image, reason, f"HTTP {response.status}")
        content_type = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        kind = content_type.split(";")[0].strip()
        if kind and not kind.startswith("image/") and kind not in BINARY_TYPES:
            return self._give_up(image, "content_type", f"served as {kind}")
        if sniff(response.body) is None:
            return self._give_up(image, "not_an_image", f"no image signature ({kind})")
        image.data, image.content_type = response.body, kind
        image.sha256 = hashlib.sha256(response.body).hexdigest()
        self.stats.inc_value("artwatch/images/downloaded")
        return image

    def _give_up(self, image: CrawledImage, reason: str, detail: str, count: bool = True):
        image.drop, image.data = reason, None
        if count:
            self.stats.inc_value(f"artwatch/drops/{reason}")
        logger.info("image dropped (%s): %s: %s", reason, image.url, detail)
        return image

    async def _lookup(self, post: CrawledPost) -> None:
        wanted = {image.sha256 for image in post.images if image.sha256}
        if not wanted:
            return
        try:
            stored = await self.store.images(wanted)
        except ConnectionFailure as error:
            raise stop_for_store(self.crawler, self.store, error) from error
        for image in post.images:
            image.stored = stored.get(image.sha256) if image.sha256 else None
            if image.stored and is_current(image.stored.get("fingerprint")):
                image.fingerprint = Fingerprint.from_document(image.stored["fingerprint"])
                image.data = None
                self.stats.inc_value("artwatch/images/known")

    async def _analyse(self, image: CrawledImage) -> None:
        data, image.data = image.data, None
        result = await self._analysed(image.sha256, data)
        if "rejected" in result:
            self._give_up(image, result["rejected"], result["detail"])
            return
        image.fingerprint = Fingerprint.from_document(result["fingerprint"])
        image.fields = {
            "url": image.url,
            "content_type": image.content_type,
            "bytes": len(data),
            **result,
        }
        self.stats.inc_value("artwatch/images/fingerprinted")

    async def _analysed(self, sha256: str, data: bytes) -> dict[str, Any]:
        """One analysis per sha256 in flight: concurrent posts with the same file share it."""
        task = self._inflight.get(sha256)
        if task is None:
            task = asyncio.ensure_future(self._in_worker(data))
            self._inflight[sha256] = task
            task.add_done_callback(lambda _: self._inflight.pop(sha256, None))
        return await asyncio.shield(task)

    async def _in_worker(self, data: bytes) -> dict[str, Any]:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, analyse, data)
        except WorkerDied as died:  # the bytes ended their worker: they would again
            return {"rejected": died.reason, "detail": str(died)}

    async def _screenshot(self, post: CrawledPost) -> None:
        loop = asyncio.get_running_loop()
        try:
            post.post["screenshot"] = await loop.run_in_executor(
                self.pool, screenshot_jpeg, post.screenshot_png
            )
        except WorkerDied as died:
            logger.info("screenshot of %s dropped (%s)", post.post.get("url"), died.reason)
            post.post["screenshot"] = None
        post.screenshot_png = None


def _needs_analysis(image: CrawledImage) -> bool:
    return image.data is not None and image.fingerprint is None


def transient_failures(post: CrawledPost) -> list[str]:
    """Images that failed for reasons a later crawl may not meet (network, 5xx, 429)."""
    return [image.url for image in post.images if image.drop in TRANSIENT]
