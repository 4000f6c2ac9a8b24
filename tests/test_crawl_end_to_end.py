"""From crawl to hit: a real Mastodon crawl of a replay server, the four item pipelines and a
real nx-27017 server; edited copies of an enrolled portfolio must give exactly the expected
hits, once, and a later enrollment must find its old posts by back-scan alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from artwatch.embedded import EmbeddedMongo
from artwatch.portfolio import backscan, enroll
from artwatch.settings import PROJECT_ROOT
from crawler.spiders.mastodon import MastodonSpider
from pipelines.store.sync import Store
from tests.crawlcase import (
    EDITS,
    TAG,
    CrawlReplayServer,
    MastodonCase,
    crawl_settings,
    jpeg,
    png,
    portfolio_image,
)
from tests.replay import run_spider

SEEDS = {"a": 11, "b": 12, "c": 13, "d": 14, "late": 15}


@pytest.fixture
def world(store, tmp_path):
    """An artist with four enrolled artworks, one more kept back, and a replay case."""
    artist_id = store.add_artist("Ana", "ana@example.org")
    works = {name: portfolio_image(seed) for name, seed in SEEDS.items()}
    paths = {}
    for name, image in works.items():
        paths[name] = tmp_path / "portfolio" / f"{name}.png"
        paths[name].parent.mkdir(exist_ok=True)
        paths[name].write_bytes(png(image))
    report = enroll(store, artist_id, [str(paths[n]) for n in ("a", "b", "c", "d")])
    assert not report.failures
    artwork_ids = {
        name: str(store.db.artworks.find_one({"filename": f"{name}.png"})["_id"])
        for name in ("a", "b", "c", "d")
    }
    case = MastodonCase()
    expected: set[tuple[str, str]] = set()

    def post(*images: tuple[str, bytes], shows: tuple[str, ...] = ()) -> str:
        urls = [case.add_file(name, data) for name, data in images]
        status = case.add_status(urls)
        expected.update((artwork_ids[w], f"mastodon:{status}") for w in shows if w in artwork_ids)
        return status

    post(("a_resize.jpg", jpeg(EDITS["resize"](works["a"]))), shows=("a",))
    post(("b_crop.jpg", jpeg(EDITS["crop"](works["b"]))), shows=("b",))
    post(("c_recolour.jpg", jpeg(EDITS["recolour"](works["c"]))), shows=("c",))
    post(("d_text.jpg", jpeg(EDITS["text"](works["d"]))), shows=("d",))
    post(("a_screenshot.jpg", jpeg(EDITS["screenshot"](works["a"]))), shows=("a",))
    post(("unrelated1.jpg", jpeg(portfolio_image(501))))
    post(
        ("unrelated2.jpg", jpeg(portfolio_image(502))),
        ("b_copy.jpg", jpeg(works["b"], quality=70)),
        shows=("b",),
    )
    late_post = post(("late_resize.jpg", jpeg(EDITS["resize"](works["late"]))))
    # The same bytes as the first post's image, at another URL, in another post.
    post(("a_resize_again.jpg", jpeg(EDITS["resize"](works["a"]))), shows=("a",))
    folder = case.write(tmp_path / "case")
    return {
        "artist_id": artist_id,
        "artwork_ids": artwork_ids,
        "expected": expected,
        "folder": folder,
        "late_path": paths["late"],
        "late_post": f"mastodon:{late_post}",
        "statuses": len(case.statuses),
    }


def crawl(server, store, **overrides):
    settings = crawl_settings(store.uri, store.db.name, **overrides)
    return run_spider(
        MastodonSpider, settings=settings, timeout=120, tags=TAG, base_url=server.base
    )


def hit_pairs(store) -> set[tuple[str, str]]:
    return {(h["artwork_id"], h["post_id"]) for h in store.db.hits.find()}


def on(server, key: str) -> str:
    """``mastodon:<id>`` as the key of that status on this server (the instance is in keys)."""
    platform, post_id = key.split(":")
    return f"{platform}:{server.base.removeprefix('http://')}:{post_id}"


def test_crawl_finds_exactly_the_edited_copies_once_and_backscan_finds_the_rest(world, store):
    with CrawlReplayServer(world["folder"]) as server:
        first = crawl(server, store)
        assert not server.unexpected
        assert hit_pairs(store) == {(art, on(server, key)) for art, key in world["expected"]}
        assert (
            store.db.posts.count_documents({"processed_at": {"$exists": True}}) == world["statuses"]
        )
        # Second crawl of everything again (cursor forgotten): every post is skipped.
        store.db.cursors.delete_many({})
        second = crawl(server, store)
    assert first.stats["artwatch/hits/new"] == len(world["expected"])
    assert second.stats["artwatch/posts/already_processed"] == world["statuses"]
    assert second.stats.get("artwatch/hits/new", 0) == 0
    assert store.db.hits.count_documents({}) == len(world["expected"])

    hit = store.db.hits.find_one({"post_id": on(server, sorted(world["expected"])[0][1])})
    assert hit["thumbnail"][:2] == b"\xff\xd8" and hit["image_url"].startswith("http://127.0.0.1")
    assert hit["ai_labeled"] is True and hit["ai_evidence"] == ["tag:aiart"]
    assert hit["kind"] in ("exact", "near", "partial") and hit["status"] == "new"
    assert store.db.alerts.count_documents({}) == len(world["expected"])
    # A copy inside a larger picture is stored with where it sits, for the hit page's outline.
    for partial in store.db.hits.find({"kind": "partial"}):
        box = partial["region"]
        assert 0 <= box["x0"] < box["x1"] <= 1 and 0 <= box["y0"] < box["y1"] <= 1, partial
    assert store.db.hits.count_documents({"kind": "partial"}) > 0

    shared = store.db.posts.find_one({"_id": on(server, sorted(world["expected"])[-1][1])})
    shared = shared["images"]
    assert store.db.images.count_documents({"_id": shared[0]["sha256"]}) == 1

    [late_id] = enroll(store, world["artist_id"], [str(world["late_path"])]).added
    assert backscan(store, [late_id]) == 1
    [late_hit] = store.db.hits.find({"artwork_id": late_id})
    assert late_hit["post_id"] == on(server, world["late_post"])


def scrapy_crawl(
    base: str, mongo_uri: str | None, db_name: str, log_path, data_dir=None
) -> subprocess.Popen:
    """``scrapy crawl mastodon`` as the scheduler runs it: its own process (and group)."""
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri or "",
        "ARTWATCH_DB_NAME": db_name,
        "ARTWATCH_ALLOW_PRIVATE_HOSTS": "127.0.0.1",
    }
    if data_dir is not None:
        env["ARTWATCH_DATA_DIR"] = str(data_dir)
    command = [sys.executable, "-m", "scrapy", "crawl", "mastodon", "-a", f"tags={TAG}"]
    command += ["-a", f"base_url={base}", "-a", "max_pages=10"]
    for setting in ("ROBOTSTXT_OBEY=False", "AUTOTHROTTLE_ENABLED=False", "DOWNLOAD_DELAY=0"):
        command += ["-s", setting]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_crawl_killed_mid_way_and_run_again_stores_everything_exactly_once(store, tmp_path):
    artist_id = store.add_artist("Ana", "ana@example.org")
    source = tmp_path / "work.png"
    source.write_bytes(png(portfolio_image(21)))
    [artwork_id] = enroll(store, artist_id, [str(source)]).added
    case = MastodonCase()
    copy = jpeg(EDITS["resize"](portfolio_image(21)))
    expected = set()
    for number in range(60):
        if number % 6 == 0:
            status = case.add_status([case.add_file(f"copy{number}.jpg", copy)])
            expected.add(f"mastodon:{status}")
        else:
            image = portfolio_image(600 + number).resize((360, 270))
            case.add_status([case.add_file(f"other{number}.jpg", jpeg(image))])
    folder = case.write(tmp_path / "case")
    log_path = tmp_path / "crawl.log"

    # One server for both crawls: the same instance (its address is in the posts' keys).
    with CrawlReplayServer(folder, delay=0.25) as server:
        process = scrapy_crawl(server.base, store.uri, store.db.name, log_path)
        try:
            wait_for(lambda: store.db.posts.count_documents({}) >= 8, 120, "posts being stored")
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        stored_before = store.db.posts.count_documents({})
        assert 8 <= stored_before < 60, "the kill must land in the middle of the crawl"
        done_before = store.db.posts.count_documents({"processed_at": {"$exists": True}})
        assert store.db.cursors.count_documents({}) == 0, "the cursor moved past unstored posts"

        server.delay = 0
        process = scrapy_crawl(server.base, store.uri, store.db.name, log_path)
        assert process.wait(180) == 0, log_path.read_text()[-3000:]

    assert store.db.posts.count_documents({}) == 60
    assert store.db.posts.count_documents({"processed_at": {"$exists": True}}) == 60
    hits = list(store.db.hits.find({}, {"post_id": 1, "artwork_id": 1}))
    assert sorted(h["post_id"] for h in hits) == sorted(on(server, key) for key in expected)
    assert {h["artwork_id"] for h in hits} == {artwork_id}
    assert store.db.alerts.count_documents({}) == len(expected)
    assert store.db.images.count_documents({}) == 51  # 50 unrelated + one copy, once
    [cursor] = store.db.cursors.find()
    assert cursor["value"] == str(1000 + 59)
    [run] = store.db.runs.find({"status": "finished"})
    assert run["finish_reason"] == "finished" and run["counts"]["posts"] == 60 - done_before


def test_scrapy_crawl_without_mongodb_uri_starts_and_stops_the_embedded_database(tmp_path):
    case = MastodonCase()
    case.add_status([case.add_file("one.jpg", jpeg(portfolio_image(901)))])
    log_path = tmp_path / "crawl.log"
    with CrawlReplayServer(case.write(tmp_path / "case")) as server:
        process = scrapy_crawl(server.base, None, "artwatch", log_path, tmp_path / "var")
        assert process.wait(120) == 0, log_path.read_text()[-3000:]
    assert "using the embedded database" in log_path.read_text()
    database = EmbeddedMongo(tmp_path / "var")
    assert not (database.home / "server.json").exists(), "the crawl left its server running"
    try:
        with Store(database.start(), "artwatch") as store:
            assert store.db.posts.count_documents({"processed_at": {"$exists": True}}) == 1
            [run] = store.db.runs.find()
            assert run["status"] == "finished"
    finally:
        database.stop()
