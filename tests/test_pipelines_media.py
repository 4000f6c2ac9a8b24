"""The media stage: limits on what is downloaded, each drop counted by reason, never fatal."""

from __future__ import annotations

import struct
import zlib

import pytest

from artwatch.portfolio import enroll
from artwatch.samples import encode
from crawler.spiders.mastodon import MastodonSpider
from pipelines.engine.decode import MAX_SCANS, decode
from pipelines.errors import ImageRejected
from pipelines.stages.images import sniff
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
from tests.hostile_images import scan_bomb
from tests.replay import run_spider

MAXSIZE = 300_000


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header announcing ``width`` x ``height`` pixels, in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def noisy_jpeg(side: int) -> bytes:
    """A JPEG that noise makes large: well above MAXSIZE at 1400 px."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(5).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return jpeg(Image.fromarray(pixels), quality=95)


def test_bad_images_are_dropped_with_their_reason_and_the_crawl_goes_on(store, tmp_path):
    case = MastodonCase()
    good = [case.add_file(f"good{n}.jpg", jpeg(portfolio_image(700 + n))) for n in range(3)]
    big = case.add_file("big.jpg", noisy_jpeg(1400))
    bomb = case.add_file("bomb.png", png_bomb(), "image/png")
    html = case.add_file("page.jpg", b"<!DOCTYPE html><html><body>login</body></html>")
    text = case.add_file("text.jpg", b"GIF89a pretending", "text/html; charset=utf-8")
    redirect = "{base}/media/redirect.jpg"
    case.routes.append(
        {
            "path": "/media/redirect.jpg",
            "status": 302,
            "headers": {"Location": "http://169.254.169.254/latest/meta-data/"},
        }
    )
    missing = "{base}/media/missing.jpg"
    case.routes.append({"path": "/media/missing.jpg", "status": 404, "body": "no"})
    case.add_status([big, good[0]])
    case.add_status([bomb, html])
    case.add_status([text, good[1], redirect])
    case.add_status([missing, good[2]])
    folder = case.write(tmp_path / "case")

    settings = crawl_settings(store.uri, store.db.name, ARTWATCH_IMAGE_MAXSIZE=MAXSIZE)
    with CrawlReplayServer(folder) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["finish_reason"] == "finished"
    assert not [line for line in result.logs if line.startswith("ERROR")]

    [run] = store.db.runs.find()
    assert run["status"] == "finished" and run["spider"] == "mastodon"
    assert run["drops"] == {
        "too_large": 1,
        "too_many_pixels": 1,
        "not_an_image": 1,
        "content_type": 1,
        "private_address": 1,
        "http_404": 1,
    }
    assert run["counts"]["posts"] == 4 and run["counts"]["dropped"] == 6
    assert store.db.images.count_documents({}) == 3
    assert store.db.posts.count_documents({"processed_at": {"$exists": True}}) == 4
    post = store.db.posts.find_one({"_id": f"mastodon:{server.base.removeprefix('http://')}:1002"})
    assert [i["url"] for i in post["images"]] == [good[1].replace("{base}", server.base)]
    reasons = {d["url"].rsplit("/", 1)[-1]: d["reason"] for d in post["dropped_images"]}
    assert reasons == {"text.jpg": "content_type", "redirect.jpg": "private_address"}


def test_a_known_image_is_linked_not_fingerprinted_again(store, tmp_path):
    data = jpeg(portfolio_image(720))
    first, second = MastodonCase(), MastodonCase()
    first.add_status([first.add_file("one.jpg", data)])
    second.add_status([second.add_file("one.jpg", data)])
    second.add_status([second.add_file("same-bytes-elsewhere.jpg", data)])
    settings = crawl_settings(store.uri, store.db.name)
    with CrawlReplayServer(first.write(tmp_path / "first")) as server:
        run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    store.db.cursors.delete_many({})
    store.db.posts.delete_many({})
    with CrawlReplayServer(second.write(tmp_path / "second")) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["artwatch/images/known"] == 2
    assert "artwatch/images/fingerprinted" not in result.stats
    assert store.db.images.count_documents({}) == 1
    [sha256] = [image["_id"] for image in store.db.images.find()]
    assert [p["images"][0]["sha256"] for p in store.db.posts.find()] == [sha256, sha256]


def test_magic_bytes_name_the_format():
    assert sniff(jpeg(portfolio_image(1))) == "jpeg"
    assert sniff(png_bomb()) == "png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"<html>") is None


def test_a_progressive_jpeg_with_too_many_scans_is_refused_before_it_is_decoded():
    with pytest.raises(ImageRejected) as refused:
        decode(scan_bomb(1024, 1000))  # ~1,000 scans: about a second of CPU here, 30 s at 360 KB
    assert refused.value.reason == "too_many_scans"
    assert decode(scan_bomb(1024, MAX_SCANS)).size == (512, 512)
    ordinary = encode(portfolio_image(2), "JPEG", quality=85, progressive=True)
    assert decode(ordinary).size == decode(jpeg(portfolio_image(2))).size


def test_scan_bombs_are_dropped_and_the_repost_behind_them_is_matched(store, tmp_path):
    """Decoding bombs used to hold every worker until the crawl's timeout: the repost behind
    them was never analysed and no cursor was saved, so every later run stalled again."""
    artist_id = store.add_artist("Ana", "ana@example.org")
    source = tmp_path / "work.png"
    source.write_bytes(png(portfolio_image(31)))
    [artwork_id] = enroll(store, artist_id, [str(source)]).added
    case = MastodonCase()
    repost = case.add_status(
        [case.add_file("repost.jpg", jpeg(EDITS["resize"](portfolio_image(31))))]
    )
    # Oldest first in this list, so the repost comes last in the listing, behind the bombs.
    for number, colour in enumerate([(120, 80, 40), (40, 80, 120)]):
        bomb = scan_bomb(7000, MAX_SCANS - 1, colour)  # under the scan limit: CPU budget
        case.add_status([case.add_file(f"slow{number}.jpg", bomb)])
    newest = case.add_status([case.add_file("scans.jpg", scan_bomb(2000, 1000))])
    folder = case.write(tmp_path / "case")
    settings = crawl_settings(store.uri, store.db.name, ARTWATCH_DECODE_CPU_SECONDS=1.0)

    with CrawlReplayServer(folder) as server:
        result = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert result.stats["finish_reason"] == "finished"
    assert not [line for line in result.logs if line.startswith("ERROR")]
    assert result.stats["artwatch/drops/decode_timeout"] == 2
    assert result.stats["artwatch/drops/too_many_scans"] == 1
    [run] = store.db.runs.find()
    assert run["drops"] == {"decode_timeout": 2, "too_many_scans": 1}
    [hit] = store.db.hits.find()
    assert hit["artwork_id"] == artwork_id and hit["post_id"].endswith(repost)
    # Dropped for what the bytes are, not for a network failure: final, the walk moves on.
    assert store.db.posts.count_documents({"processed_at": {"$exists": True}}) == 4
    [cursor] = store.db.cursors.find()
    assert cursor["value"] == newest

    store.db.cursors.delete_many({})  # even a run that walks the same page again
    same_instance = int(server.base.rsplit(":", 1)[1])
    with CrawlReplayServer(folder, port=same_instance) as server:
        again = run_spider(MastodonSpider, settings=settings, tags=TAG, base_url=server.base)
    assert again.stats["finish_reason"] == "finished"
    assert "artwatch/images/downloaded" not in again.stats
    assert not [key for key in again.stats if key.startswith("artwatch/drops/")]
