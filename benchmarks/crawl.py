"""Crawl speed with the whole item pipeline, against the same crawl with our pipelines off.

Run ``python -m benchmarks.crawl`` (``--full`` for 2,000 posts and 3,000 images). A Mastodon
replay server (invented statuses, 40 per page) serves distinct 1-2 megapixel JPEGs generated
once into ``benchmarks/.cache/crawl/``. Each crawl is a real ``scrapy crawl mastodon``
process, as the scheduler runs it, with politeness delays off so the pipeline, not the
delay, is the limit. The portfolio holds 10,000 artworks: 9,980 synthetic (a real
fingerprint's layout with random PDQ, pHash and ORB bytes, so index size and lookup cost are
those of 10k works) plus 20 real enrolled artworks that about 10 % of the crawled images are
derived from, so hits are written too. The baseline ("pipelines off") runs the same crawl
with ``ARTWATCH_STORE=none`` and a pipeline that downloads every image through the same
downloader and discards it: what remains is our cost (hashing, fingerprinting, matching,
MongoDB writes). Without a delay the baseline is bounded only by loopback transfer, so the
ratio then measures CPU per image; ``--delay SECONDS`` sets the same DOWNLOAD_DELAY on both
crawls, as a polite crawl has (the project's default is 1 s per host). The ``LoopLag``
extension runs a 50 ms ``LoopingCall`` in the crawl process and records how late each tick
fires: a fingerprint computed on the reactor thread would show up as a lag of its duration
(tens of milliseconds per image, see "CPU ms/img") on every image. ``--thread-pool`` adds a
crawl that fingerprints in threads instead of processes, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from PIL import Image, ImageDraw
from scrapy import Request, signals

CACHE = Path(__file__).resolve().parent / ".cache" / "crawl"
PROJECT = Path(__file__).resolve().parent.parent
BASES = 200  # distinct procedural artworks the crawled images derive from
ENROLLED = 20  # of those, enrolled for real: images of these produce hits
PORTFOLIO = 10_000
LAG_INTERVAL = 0.05


# -- inside the crawl process -------------------------------------------------------------


class LoopLag:
    """Extension: how late a 50 ms LoopingCall fires, and the crawl's own clock and stats."""

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.path = crawler.settings.get("BENCH_OUT")
        self.lags: list[float] = []
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> LoopLag:
        return cls(crawler)

    def opened(self, spider: Any) -> None:
        from twisted.internet.task import LoopingCall

        self.started = self.last = time.perf_counter()
        self.call = LoopingCall(self.tick)
        self.call.start(LAG_INTERVAL, now=False)

    def tick(self) -> None:
        now = time.perf_counter()
        self.lags.append(max(0.0, now - self.last - LAG_INTERVAL))
        self.last = now
        if self.lags[-1] > 0.1:
            logging.getLogger(__name__).warning("loop lag %.0f ms", self.lags[-1] * 1000)

    def closed(self, spider: Any, reason: str) -> None:
        self.call.stop()
        stats = self.crawler.stats.get_stats()
        lags = np.array(self.lags or [0.0]) * 1000
        result = {
            "seconds": time.perf_counter() - self.started,
            "reason": reason,
            "lag_max_ms": float(lags.max()),
            "lag_p99_ms": float(np.percentile(lags, 99)),
            "stats": {k: v for k, v in stats.items() if isinstance(v, int | float)},
        }
        Path(self.path).write_text(json.dumps(result))


class DownloadOnly:
    """Baseline pipeline: download every image like the media stage, then forget it."""

    def __init__(self, crawler: Any):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> DownloadOnly:
        return cls(crawler)

    async def process_item(self, item: Any) -> Any:
        if type(item).__name__ != "PostItem":
            return item
        meta = {"untrusted_url": True, "download_maxsize": 25 * 1024 * 1024}
        requests = [Request(u, meta=meta, dont_filter=True) for u in item["image_urls"]]
        responses = await asyncio.gather(*(self.crawler.engine.download_async(r) for r in requests))
        self.crawler.stats.inc_value("artwatch/images/downloaded", len(responses))
        return {"post_id": item["post_id"], "cursor_key": item["cursor_key"]}


# -- the corpus -----------------------------------------------------------------------------


def _image(number: int) -> bytes:
    """A distinct 1-2 MP JPEG derived from base artwork ``number % BASES``."""
    from artwatch.samples import artwork, encode

    rng = np.random.default_rng(number)
    base = artwork(number % BASES, (640, 480))
    width = int(rng.integers(1200, 1650))
    image = base.resize((width, width * 3 // 4), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    corner = (int(rng.integers(0, width - 200)), int(rng.integers(0, 200)))
    draw.text(corner, f"#{number} aiart", fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return encode(image, "JPEG", quality=int(rng.integers(80, 93)))


def corpus(images: int) -> Path:
    """``images`` JPEGs in the cache, generated once (in parallel) and reused."""
    folder = CACHE / "images"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [n for n in range(images) if not (folder / f"{n}.jpg").exists()]
    if missing:
        print(f"generating {len(missing)} images into {folder} (once)...", flush=True)
        with ProcessPoolExecutor() as pool:
            for number, data in zip(missing, pool.map(_image, missing, chunksize=8), strict=True):
                (folder / f"{number}.jpg").write_bytes(data)
    return folder


def case(posts: int, images: int) -> Path:
    """The replay case: ``posts`` statuses holding ``images`` images (one or two each)."""
    from tests.crawlcase import MastodonCase

    folder = corpus(images)
    statuses = MastodonCase()
    next_image = 0
    for number in range(posts):
        count = 2 if number < images - posts else 1
        urls = ["{base}/media/" + f"{next_image + i}.jpg" for i in range(count)]
        next_image += count
        statuses.add_status(urls)
    statuses.write(folder)
    index = json.loads((folder / "index.json").read_text())
    index += [
        {"path": f"/media/{n}.jpg", "headers": {"Content-Type": "image/jpeg"},
         "body_file": f"{n}.jpg"}
        for n in range(images)
    ]  # fmt: skip
    (folder / "index.json").write_text(json.dumps(index))
    return folder


# -- the portfolio ----------------------------------------------------------------------------


def portfolio(store: Any) -> None:
    """ENROLLED real artworks and PORTFOLIO - ENROLLED synthetic ones, for one artist."""
    from artwatch.portfolio import artwork_fields
    from artwatch.samples import artwork, encode
    from pipelines.engine.fingerprint import Fingerprint

    artist_id = store.add_artist("Bench", "bench@example.org")
    real = None
    for seed in range(ENROLLED):
        data = encode(artwork(seed, (640, 480)), "PNG")
        fields = artwork_fields(data, f"bench{seed}.png")
        store.add_artwork(artist_id, f"real{seed}", fields)
        real = Fingerprint.from_document(fields["fingerprint"])
    rng = np.random.default_rng(7)
    batch = []
    for number in range(PORTFOLIO - ENROLLED):
        fake = dataclasses.replace(
            real,
            pdq=rng.bytes(len(real.pdq)),
            phash=rng.bytes(len(real.phash)),
            orb_desc=rng.bytes(len(real.orb_desc)),
        )
        batch.append(
            {"artist_id": artist_id, "sha256": f"synthetic{number}",
             "fingerprint": fake.to_document(), "filename": f"synthetic{number}"}
        )  # fmt: skip
        if len(batch) == 1000:
            store.add_artworks(batch)
            batch = []
    if batch:
        store.add_artworks(batch)


# -- running and measuring ----------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    name: str
    seconds: float
    posts: int
    images: int
    cpu_seconds: float
    peak_rss_mb: float
    lag_max_ms: float
    lag_p99_ms: float
    hits: int
    db_cpu_seconds: float = 0.0


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


def crawl(
    name: str,
    base: str,
    pages: int,
    env: dict[str, str],
    settings: dict[str, Any],
    database: psutil.Process | None = None,
):
    """One ``scrapy crawl`` process; its time, CPU (with its workers), memory and lag."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    command = [sys.executable, "-m", "scrapy", "crawl", "mastodon", "-a", "tags=aiart"]
    command += ["-a", f"base_url={base}", "-a", f"max_pages={pages}"]
    common = {
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "CONCURRENT_REQUESTS": 32,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        "LOG_LEVEL": "INFO",
        "BENCH_OUT": str(out),
    }
    for key, value in {**common, **settings}.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        command += ["-s", f"{key}={text}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    db_before = _cpu(database)
    log_path = CACHE / f"{name.replace(' ', '-')}.log"
    log = open(log_path, "wb")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=log)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(watched))
        time.sleep(0.25)
    log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0 or not out.stat().st_size:
        raise SystemExit(f"{name} crawl failed; see {log_path}")
    found = json.loads(out.read_text())
    out.unlink()
    stats = found["stats"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Result(
        name=name,
        seconds=found["seconds"],
        posts=int(stats.get("item_scraped_count", 0)),
        images=int(stats.get("artwatch/images/downloaded", 0)),
        cpu_seconds=cpu,
        peak_rss_mb=peak / 2**20,
        lag_max_ms=found["lag_max_ms"],
        lag_p99_ms=found["lag_p99_ms"],
        hits=int(stats.get("artwatch/hits/new", 0)),
        db_cpu_seconds=_cpu(database) - db_before,
    )


def table(results: list[Result]) -> None:
    head = (
        f"{'crawl':<16}{'posts':>7}{'images':>8}{'seconds':>9}{'posts/s':>9}{'images/s':>10}"
        f"{'CPU ms/img':>12}{'db CPU ms/img':>15}{'peak MB':>9}{'lag max ms':>12}"
        f"{'lag p99 ms':>12}{'hits':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:<16}{r.posts:>7}{r.images:>8}{r.seconds:>9.1f}{r.posts / r.seconds:>9.1f}"
            f"{r.images / r.seconds:>10.1f}{1000 * r.cpu_seconds / max(r.images, 1):>12.1f}"
            f"{1000 * r.db_cpu_seconds / max(r.images, 1):>15.1f}"
            f"{r.peak_rss_mb:>9.0f}{r.lag_max_ms:>12.1f}{r.lag_p99_ms:>12.1f}{r.hits:>6}"
        )
    full, off = results[0], results[-1]
    ratio = (full.images / full.seconds) / (off.images / off.seconds)
    print(f"\nfull pipeline rate / pipelines-off rate: {ratio:.0%} (target >= 50 %)")


def forget_crawl(uri: str) -> None:
    """Drop what a crawl stored, so the next one does all the work again."""
    from pipelines.store.sync import Store

    with Store(uri, "bench") as store:
        store.clear(("posts", "images", "hits", "alerts", "cursors"))


def main() -> None:
    from artwatch.embedded import EmbeddedMongo
    from pipelines.store.sync import Store
    from tests.crawlcase import CrawlReplayServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="2,000 posts and 3,000 images")
    parser.add_argument(
        "--thread-pool",
        action="store_true",
        help="also crawl with ARTWATCH_FINGERPRINT_POOL=thread, to show what the lag probe sees",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="DOWNLOAD_DELAY of both crawls (0: none)"
    )
    args = parser.parse_args()
    posts, images = (2000, 3000) if args.full else (300, 450)
    folder = case(posts, images)
    pages = posts // 40 + 2
    print(f"{posts} posts, {images} images (1-2 MP JPEG), portfolio {PORTFOLIO} artworks, "
          f"{os.cpu_count()} cores, DOWNLOAD_DELAY={args.delay}")  # fmt: skip
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedMongo(Path(data_dir))
        uri = server.start()
        try:
            with Store(uri, "bench") as store:
                portfolio(store)
            env = {
                **os.environ,
                "MONGODB_URI": uri,
                "ARTWATCH_DB_NAME": "bench",
                "ARTWATCH_ALLOW_PRIVATE_HOSTS": "127.0.0.1",
                "PYTHONPATH": str(PROJECT),
            }
            extensions = {"benchmarks.crawl.LoopLag": 0, "pipelines.stages.runs.RunRecorder": 500}
            results = []
            database = psutil.Process(json.loads(server.state_file.read_text())["pid"])
            with CrawlReplayServer(folder) as replay:
                full = {"EXTENSIONS": extensions, "DOWNLOAD_DELAY": args.delay}
                results.append(crawl("full pipeline", replay.base, pages, env, full, database))
                if args.thread_pool:
                    forget_crawl(uri)
                    threads = {**full, "ARTWATCH_FINGERPRINT_POOL": "thread"}
                    results.append(
                        crawl("full, threads", replay.base, pages, env, threads, database)
                    )
                off = {
                    "EXTENSIONS": extensions,
                    "DOWNLOAD_DELAY": args.delay,
                    "ARTWATCH_STORE": "none",
                    "ITEM_PIPELINES": {
                        "pipelines.stages.posts.PostsStage": 100,
                        "benchmarks.crawl.DownloadOnly": 200,
                    },
                }
                results.append(crawl("pipelines off", replay.base, pages, env, off, database))
        finally:
            server.stop()
    table(results)


if __name__ == "__main__":
    main()
