"""Fingerprints: safe decoding of bad input, every image mode, serialisation and versions."""

from __future__ import annotations

import io
import struct
import zlib

import bson
import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw
from pymongo import MongoClient

from artwatch.samples import artwork, encode
from pipelines.engine.decode import MAX_PIXELS, REASONS, WORK_AREA, decode, prepare
from pipelines.engine.fingerprint import (
    ALGORITHMS,
    FINGERPRINT_VERSION,
    EmbeddedRegions,
    Fingerprint,
    PdqFingerprint,
    PHashFingerprint,
    algorithm,
    fingerprint,
    is_current,
)
from pipelines.errors import ImageRejected


def pdq_distance(a: Fingerprint, b: Fingerprint) -> int:
    return PdqFingerprint.distance(a.pdq[:32], b.pdq[:32])


@pytest.fixture(scope="module")
def art() -> Image.Image:
    return artwork(1)


@pytest.fixture(scope="module")
def art_fp(art: Image.Image) -> Fingerprint:
    return fingerprint(art)


def rejected(data: bytes) -> str:
    with pytest.raises(ImageRejected) as info:
        fingerprint(data)
    assert info.value.reason in REASONS
    return info.value.reason


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with a tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_zero_bytes_are_refused_as_empty():
    assert rejected(b"") == "empty"


def test_html_saved_as_jpg_is_not_an_image():
    page = b"<!DOCTYPE html>\n<html><head><title>Login</title></head><body>nope</body></html>"
    assert rejected(page) == "not_an_image"
    assert rejected(b"  \n<html><body>x</body></html>") == "not_an_image"


def test_random_bytes_are_not_an_image():
    assert rejected(np.random.default_rng(0).bytes(5000)) == "not_an_image"


def test_truncated_jpeg_is_refused(art):
    data = encode(art, quality=90)
    assert rejected(data[: len(data) // 2]) == "truncated"


def test_truncated_png_is_refused(art):
    data = encode(art, "PNG")
    assert rejected(data[: len(data) // 2]) in ("truncated", "corrupt")


def test_decompression_bomb_is_refused_from_the_header():
    bomb = png_header_bomb(40_000, 40_000)
    assert len(bomb) < 1_000_000
    assert rejected(bomb) == "too_many_pixels"
    just_over = int(MAX_PIXELS**0.5) + 1
    assert rejected(png_header_bomb(just_over, just_over)) == "too_many_pixels"


def test_tiny_image_is_too_small():
    assert rejected(encode(artwork(2, (20, 20)), "PNG")) == "too_small"


def test_flat_colour_is_low_information():
    flat = Image.new("RGB", (400, 300), (200, 30, 30))
    assert rejected(encode(flat, "PNG")) == "low_information"
    with pytest.raises(ImageRejected) as info:
        fingerprint(flat)
    assert info.value.reason == "low_information"


def test_working_image_is_reduced(art_fp):
    assert art_fp.width * art_fp.height <= WORK_AREA
    big = fingerprint(encode(artwork(1, (3000, 2250)), quality=92))
    assert WORK_AREA / 4 <= big.width * big.height <= WORK_AREA
    assert big.width / big.height == pytest.approx(3000 / 2250, rel=0.01)
    png = fingerprint(encode(artwork(1, (3000, 2250)), "PNG"))
    assert WORK_AREA / 4 <= png.width * png.height <= WORK_AREA


def test_cmyk_jpeg_fingerprints_like_rgb(art, art_fp):
    cmyk = fingerprint(encode(art.convert("CMYK"), quality=95))
    assert pdq_distance(cmyk, art_fp) <= 16


def test_16bit_greyscale_png_fingerprints_like_8bit(art):
    grey8 = np.asarray(art.convert("L"), dtype=np.uint16)
    grey16 = Image.fromarray(grey8 * 257)
    assert grey16.mode == "I;16"
    fp16 = fingerprint(encode(grey16, "PNG"))
    fp8 = fingerprint(art.convert("L"))
    assert pdq_distance(fp16, fp8) <= 4


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_image_uses_first_frame(fmt):
    first, second = artwork(3), artwork(4)
    data = encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    fp = fingerprint(data)
    assert pdq_distance(fp, fingerprint(first)) <= 31
    assert pdq_distance(fp, fingerprint(second)) > 80


@pytest.mark.parametrize(
    ("orientation", "stored"), [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)]
)
def test_exif_rotated_jpeg_equals_upright(art, art_fp, orientation, stored):
    # Orientation 6 means "turn 90 degrees clockwise to display": the file holds the picture
    # turned the other way, as a camera held sideways writes it.
    turned = art.transpose(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    fp = fingerprint(encode(turned, quality=95, exif=exif.tobytes()))
    assert (fp.width, fp.height) == (art_fp.width, art_fp.height)
    assert pdq_distance(fp, art_fp) <= 16
    unrotated = fingerprint(encode(turned, quality=95))
    assert pdq_distance(unrotated, art_fp) > 60


def test_exif_rotated_png_equals_upright(art, art_fp):
    exif = Image.Exif()
    exif[0x0112] = 6
    fp = fingerprint(encode(art.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif))
    assert (fp.width, fp.height) == (art_fp.width, art_fp.height)
    assert pdq_distance(fp, art_fp) <= 16


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_plain_png_fast_path_decodes_like_pillow(mode):
    data = encode(artwork(6, (1000, 700)).convert(mode), "PNG")
    fast = np.asarray(decode(data), dtype=np.int16)
    pillow = np.asarray(prepare(Image.open(io.BytesIO(data))).convert("RGB"), dtype=np.int16)
    assert fast.shape == pillow.shape == (350, 500, 3)
    assert np.abs(fast - pillow).max() <= 1  # rounding of the box filter only


def test_transparent_png_is_composited_on_white(art):
    rgba = art.convert("RGBA")
    alpha = Image.new("L", art.size, 0)
    ImageDraw.Draw(alpha).ellipse((80, 60, 560, 420), fill=255)
    rgba.putalpha(alpha)
    on_white = Image.new("RGB", art.size, (255, 255, 255))
    on_white.paste(art, mask=alpha)
    on_black = Image.new("RGB", art.size, (0, 0, 0))
    on_black.paste(art, mask=alpha)
    fp = fingerprint(encode(rgba, "PNG"))
    assert pdq_distance(fp, fingerprint(on_white)) <= 8
    assert pdq_distance(fp, fingerprint(on_black)) > pdq_distance(fp, fingerprint(on_white))


def test_palette_image_with_transparency(art):
    palette = art.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    fp = fingerprint(encode(palette, "PNG", transparency=0))
    assert fp.pdq_usable


def test_pil_image_and_bytes_agree(art, art_fp):
    assert pdq_distance(fingerprint(encode(art, "PNG")), art_fp) == 0


def test_phash_variants_follow_pdq_dihedral_order(art):
    grey = np.asarray(art.convert("L").resize((64, 48)))
    rgb = np.asarray(art)
    variants, _ = pdqhash.compute_dihedral(rgb)
    for k, view in enumerate(PHashFingerprint.dihedral):
        turned, _ = pdqhash.compute(np.ascontiguousarray(view(rgb)))
        assert int((turned != variants[k]).sum()) <= 20, f"variant {k}"
    hashes = PHashFingerprint.from_image(grey)
    assert len(hashes) == 8 * PHashFingerprint.size
    assert hashes[:8] == _imagehash_phash(grey)
    for k, view in enumerate(PHashFingerprint.dihedral):
        expected = _imagehash_phash(np.ascontiguousarray(view(grey)))
        assert PHashFingerprint.distance(hashes[k * 8 : (k + 1) * 8], expected) <= 2, k


def _imagehash_phash(grey: np.ndarray) -> bytes:
    bits = imagehash.phash(Image.fromarray(grey)).hash
    return np.packbits(bits.astype(np.uint8).ravel()).tobytes()


def test_document_round_trip_through_mongodb(art_fp, mongo_uri, db_name):
    doc = art_fp.to_document()
    assert doc["version"] == FINGERPRINT_VERSION
    assert Fingerprint.from_document(doc) == art_fp
    client = MongoClient(mongo_uri)
    try:
        client[db_name].images.insert_one({"_id": "x", "fingerprint": doc})
        stored = client[db_name].images.find_one({"_id": "x"})["fingerprint"]
    finally:
        client.close()
    assert Fingerprint.from_document(stored) == art_fp


def test_document_is_compact(art_fp):
    doc = art_fp.to_document()
    size = len(doc["pdq"]["hashes"]) + len(doc["phash"]) + sum(map(len, doc["orb"].values()))
    assert size <= 20 * 1024  # 256 keypoints, as posted and mirrored: 2 x 9 KB
    assert art_fp.feature_count >= 50


def test_mirrored_features_are_those_of_the_flipped_picture(art, art_fp):
    flipped = fingerprint(art.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    ours = np.frombuffer(art_fp.orb_mirror_desc, np.uint8).reshape(-1, 32)
    theirs = np.frombuffer(flipped.orb_desc, np.uint8).reshape(-1, 32)
    nearest = np.bitwise_count(ours[:, None, :] ^ theirs[None, :, :]).sum(axis=2).min(axis=1)
    assert len(ours) == art_fp.feature_count
    assert np.mean(nearest <= 8) >= 0.6  # the same points, up to which ones were kept
    assert np.mean(nearest == 0) >= 0.5


def test_version_mismatch_is_detected(art_fp):
    doc = art_fp.to_document()
    assert is_current(doc)
    stale = {**doc, "version": FINGERPRINT_VERSION - 1}
    assert not is_current(stale)
    assert not is_current(None)
    with pytest.raises(ValueError, match="fingerprint the image again"):
        Fingerprint.from_document(stale)


def test_malformed_document_is_refused(art_fp):
    doc = art_fp.to_document()
    del doc["pdq"]
    with pytest.raises(ValueError, match="malformed"):
        Fingerprint.from_document(doc)


def test_embedded_region_is_found_in_a_meme_frame(art):
    canvas = Image.new("RGB", (900, 800), (255, 255, 255))
    canvas.paste(art, (130, 250))
    ImageDraw.Draw(canvas).text((40, 60), "when the AI gets it right", fill=(0, 0, 0))
    rgb = np.asarray(canvas)
    boxes = EmbeddedRegions.boxes(rgb)
    assert boxes, "no region found"
    x0, y0, x1, y1 = boxes[0]
    assert abs(x0 - 130) <= 2 and abs(y0 - 250) <= 2
    assert abs(x1 - 770) <= 2 and abs(y1 - 730) <= 2
    fp = fingerprint(encode(canvas, quality=85))
    (pdq, _), *_ = fp.usable_regions()
    assert PdqFingerprint.distance(pdq, fingerprint(art).pdq[:32]) <= 16


def test_plain_artwork_has_no_embedded_region(art_fp):
    assert art_fp.usable_regions() == []


def test_algorithm_names_are_unique_and_are_the_document_keys(art_fp):
    names = [kind.name for kind in ALGORITHMS.values()]
    assert list(ALGORITHMS) == names and len(set(names)) == len(names)
    assert list(art_fp.to_document()) == ["version", "size", *names]


def test_a_taken_fingerprint_name_is_refused():
    class Again:
        name = "pdq"

    with pytest.raises(ValueError, match="'pdq' is already taken"):
        algorithm(Again)
    assert ALGORITHMS["pdq"] is PdqFingerprint


def test_stored_parts_keep_their_shape_byte_for_byte(art_fp):
    # The parts as the hand-written to_document of version 5 wrote them, in that order.
    fp = art_fp
    written = {
        "size": [fp.width, fp.height],
        "pdq": {"hashes": fp.pdq, "quality": fp.pdq_quality},
        "phash": fp.phash.hex(),
        "orb": {
            "xy": fp.orb_xy,
            "desc": fp.orb_desc,
            "mirror_xy": fp.orb_mirror_xy,
            "mirror_desc": fp.orb_mirror_desc,
        },
        "regions": fp.regions,
    }
    document = fp.to_document()
    assert list(document)[: len(written) + 1] == ["version", *written]
    assert bson.encode({key: document[key] for key in written}) == bson.encode(written)
