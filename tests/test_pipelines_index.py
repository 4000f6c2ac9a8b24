"""PortfolioIndex: exact, near and partial matches, no false alarms, add/remove, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from pipelines.engine.descriptor import model_status
from pipelines.engine.fingerprint import fingerprint
from pipelines.engine.index import FeatureIndex, HammingIndex, Match, PortfolioIndex, Rule
from pipelines.engine.learned import LearnedRule
from pipelines.engine.regions import RegionDescriptors
from tests.test_pipelines_fingerprint import artwork, encode

PORTFOLIO = range(100, 108)


@pytest.fixture(scope="module")
def works() -> dict[str, Image.Image]:
    return {f"art{seed}": artwork(seed, (720, 540)) for seed in PORTFOLIO}


@pytest.fixture(scope="module")
def index(works) -> PortfolioIndex:
    built = PortfolioIndex()
    for artwork_id, image in works.items():
        built.add(artwork_id, fingerprint(encode(image, "PNG")))
    return built


def search(index: PortfolioIndex, image: Image.Image, quality: int = 75) -> list[Match]:
    return index.search(fingerprint(encode(image.convert("RGB"), quality=quality)))


def only(matches: list[Match], artwork_id: str) -> Match:
    assert [m.artwork_id for m in matches] == [artwork_id], matches
    return matches[0]


def screenshot(image: Image.Image) -> Image.Image:
    """The artwork at 45% of a phone screenshot's width, with UI chrome and text."""
    canvas = Image.new("RGB", (1080, 1920), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 1080, 160), fill=(30, 30, 60))
    for row in range(12):
        draw.text((60, 1100 + row * 50), "so pretty!! who made this? #aiart " * 2, fill=(20,) * 3)
    shown = image.resize((486, 365))
    canvas.paste(shown, (120, 400))
    return canvas


def test_reencoded_copy_is_exact(index, works):
    match = only(search(index, works["art100"], quality=60), "art100")
    assert match.kind == "exact"
    assert match.distances["pdq"] <= 12


@pytest.mark.parametrize(
    "edit",
    [
        lambda im: im.resize((360, 270)),
        lambda im: ImageEnhance.Brightness(im).enhance(1.3),
        lambda im: im.filter(ImageFilter.GaussianBlur(2)),
        lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        lambda im: im.transpose(Image.Transpose.ROTATE_90),
        lambda im: im.convert("L"),
    ],
    ids=["resize", "brightness", "blur", "flip", "rot90", "grey"],
)
def test_edited_whole_image_is_near(index, works, edit):
    match = only(search(index, edit(works["art101"])), "art101")
    assert match.kind in ("near", "exact")
    assert 0 < match.score <= 1


@pytest.mark.parametrize(
    "edit",
    [
        lambda im: im.crop((0, 0, int(im.width * 0.6), int(im.height * 0.6))),
        lambda im: screenshot(im),
        lambda im: im.rotate(5, expand=True, fillcolor=(255, 255, 255)),
    ],
    ids=["crop40", "screenshot", "rotate5"],
)
def test_part_of_an_image_is_partial(index, works, edit):
    match = only(search(index, edit(works["art102"])), "art102")
    assert match.kind in ("partial", "near")
    if match.kind == "partial":  # verified local features, or an embedded region's hash
        assert match.distances.get("inliers", 0) >= Rule.min_inliers or "region" in match.distances


def test_flipped_crop_is_found_through_mirrored_features(index, works):
    image = works["art104"].transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    match = only(search(index, image.crop((0, 0, int(image.width * 0.6), image.height))), "art104")
    assert match.kind == "partial"
    assert match.distances["mirror"] == 1
    assert match.distances["inliers"] >= Rule.min_inliers


def test_screenshot_is_partial_not_near(index, works):
    match = only(search(index, screenshot(works["art103"])), "art103")
    assert match.kind == "partial"


def test_unrelated_images_match_nothing(index):
    for seed in range(300, 316):
        assert search(index, artwork(seed, (720, 540))) == [], seed


def test_low_quality_pdq_never_matches_whole_image():
    # A mostly white page with a small textured stamp: PDQ quality is below the floor, so
    # only verified local features could ever match it.
    page = Image.new("RGB", (600, 600), (255, 255, 255))
    page.paste(artwork(7, (60, 60)), (270, 270))
    fp = fingerprint(page)
    assert not fp.pdq_usable
    index = PortfolioIndex()
    index.add("page", fp)
    # Found only by byte identity, the tight low-detail test or verified features.
    for match in index.search(fp):
        assert "sha256" in match.distances or "colour" in match.distances or match.kind == "partial"


def test_add_search_remove(works):
    index = PortfolioIndex()
    assert len(index) == 0
    assert index.search(fingerprint(works["art104"])) == []
    for artwork_id in ("art104", "art105"):
        index.add(artwork_id, fingerprint(works[artwork_id]))
    assert len(index) == 2 and "art104" in index
    query = fingerprint(encode(works["art104"], quality=70))
    assert only(index.search(query), "art104").kind == "exact"
    index.remove("art104")
    index.remove("never-added")
    assert len(index) == 1
    assert index.search(query) == []
    index.add("art104", fingerprint(works["art104"]))
    assert only(index.search(query), "art104")


def test_reverse_direction_one_entry_index(works):
    """Back-scan: a stored crawled-image document searched against one new artwork."""
    from pipelines.engine.fingerprint import Fingerprint

    stored = fingerprint(encode(screenshot(works["art106"]), quality=80)).to_document()
    index = PortfolioIndex()
    index.add("art106", fingerprint(works["art106"]))
    assert only(index.search(Fingerprint.from_document(stored)), "art106").kind == "partial"


def test_search_from_threads_agrees_with_serial(index, works):
    queries = [fingerprint(encode(im, quality=50)) for im in works.values()]
    serial = [index.search(q) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(index.search, queries * 3))
    assert threaded == serial * 3


def test_multi_index_hashing_finds_what_a_scan_finds():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (30_000, 32), dtype=np.uint8)
    queries = codes[:50].copy()
    bits = np.unpackbits(queries, axis=1)
    for row, flips in enumerate(rng.integers(0, 32, 50)):  # 0..31 bits away
        bits[row, rng.choice(256, flips, replace=False)] ^= 1
    queries = np.packbits(bits, axis=1)
    mih, scan = HammingIndex(codes, multi_index=True), HammingIndex(codes, multi_index=False)
    for query in queries:
        a, b = mih.within(query[None], 31), scan.within(query[None], 31)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert len(a[0]) >= 1


def test_feature_index_dense_and_sparse_buckets_vote_alike():
    rng = np.random.default_rng(6)
    desc = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    owners = np.repeat(np.arange(50), 100)

    class Dense(FeatureIndex):
        dense_above = 0

    sparse, dense = FeatureIndex(desc, owners), Dense(desc, owners)
    query = desc[700:800]
    votes = sparse.votes(query)
    assert np.array_equal(votes, dense.votes(query))
    assert votes.argmax() == 7 and votes[7] == 100  # one vote per query descriptor


def test_descriptors_sharing_a_key_vote_only_when_close():
    rng = np.random.default_rng(8)
    desc = rng.integers(0, 256, (2, 32), dtype=np.uint8)
    index = FeatureIndex(desc, np.array([0, 1]))
    outside = np.setdiff1d(np.arange(256), FeatureIndex._selection[0])  # table 0 keeps its key
    bits = np.unpackbits(desc, axis=1)
    near, far = bits[0].copy(), bits[1].copy()
    near[outside[:20]] ^= 1
    far[outside] ^= 1
    query = np.packbits(np.stack([near, far]), axis=1)
    assert np.array_equal(FeatureIndex.keys(query)[:, 0], FeatureIndex.keys(desc)[:, 0])
    assert index.votes(query).tolist() == [1, 0]


def test_keypoint_floor_matches_the_verification_floor():
    from pipelines.engine.fingerprint import OrbFeatures

    assert OrbFeatures.min_features == Rule.min_inliers


# Detection v2: composites, derivatives, low-detail works (pipelines.engine.learned).
needs_model = pytest.mark.skipif(model_status() is not None, reason="no descriptor model")


def side_by_side(image: Image.Image, other: Image.Image) -> Image.Image:
    other = other.resize((image.height, image.height))
    canvas = Image.new("RGB", (image.width + other.width + 6, image.height), "white")
    canvas.paste(other, (0, 0))
    canvas.paste(image, (other.width + 6, 0))
    return canvas


def grid(image: Image.Image, where: int) -> Image.Image:
    canvas = Image.new("RGB", (3 * 240 + 8, 3 * 240 + 8), "white")
    for cell in range(9):
        picture = image if cell == where else artwork(500 + cell, (320, 240))
        canvas.paste(picture.resize((240, 240)), ((cell % 3) * 244, (cell // 3) * 244))
    return canvas


def busy_feed(image: Image.Image) -> Image.Image:
    """A dark desktop feed: avatars, text, an ad photo, the artwork letterboxed at ~25 %."""
    canvas = Image.new("RGB", (1920, 1080), (16, 16, 20))
    draw = ImageDraw.Draw(canvas)
    for row in range(6):
        draw.ellipse((30, 120 + row * 110, 94, 184 + row * 110), fill=(200, 90, 40 + row * 30))
        draw.text((110, 140 + row * 110), "someone posted", fill=(230,) * 3)
    frame = Image.new("RGB", (720, 720), (0, 0, 0))
    shown = image.resize((720, 540))
    frame.paste(shown, (0, 90))
    canvas.paste(frame, (600, 140))
    canvas.paste(artwork(777, (400, 400)), (1420, 140))  # the ad's own photo
    draw.text((600, 880), "so pretty!! who made this? #aiart", fill=(230,) * 3)
    return canvas


@needs_model
@pytest.mark.parametrize("compose", ["side_by_side", "grid", "feed"])
def test_artwork_inside_a_composite_is_found(index, works, compose):
    art = works["art102"]
    picture = {
        "side_by_side": lambda: side_by_side(art, artwork(401, (720, 540))),
        "grid": lambda: grid(art, where=4),
        "feed": lambda: busy_feed(art),
    }[compose]()
    assert RegionDescriptors.unpack(fingerprint(encode(picture)).proposals)
    assert "art102" in [m.artwork_id for m in search(index, picture, quality=85)]


@needs_model
def test_composite_of_unrelated_pictures_matches_nothing(index):
    assert search(index, grid(artwork(610, (320, 240)), where=0)) == []
    assert search(index, busy_feed(artwork(611, (720, 540)))) == []


@needs_model
def test_stylized_redraw_the_hashes_miss_is_a_derivative(index, works):
    small = np.asarray(works["art103"].resize((480, 360)))
    redrawn = Image.fromarray(cv2.stylization(small, sigma_s=60, sigma_r=0.45))
    match = only(search(index, redrawn), "art103")
    assert match.kind == "derivative"
    assert LearnedRule.whole_floor <= match.distances["cosine"] < LearnedRule.copy_cosine


def gradient(colours: tuple, size=(800, 600)) -> Image.Image:
    t = np.linspace(0, 1, size[0], dtype=np.float32)[None, :, None]
    row = np.asarray(colours[0], np.float32) * (1 - t) + np.asarray(colours[1], np.float32) * t
    return Image.fromarray(np.repeat(row, size[1], axis=0).astype(np.uint8))


def test_low_detail_work_is_found_unedited_and_resized():
    work = gradient(((30, 120, 200), (250, 190, 90)))
    enrolled = encode(work, "PNG")
    index = PortfolioIndex()
    index.add("sky", fingerprint(enrolled))
    index.add("other-gradient", fingerprint(gradient(((200, 40, 60), (20, 200, 90)))))
    assert not fingerprint(enrolled).pdq_usable
    same = only(index.search(fingerprint(enrolled)), "sky")
    assert same.kind == "exact" and same.distances == {"sha256": 0}
    resized = only(search(index, work.resize((400, 300)), quality=90), "sky")
    assert resized.kind == "near"


@pytest.mark.parametrize("mirrored", [False, True], ids=["as_posted", "mirrored"])
def test_a_partial_match_says_where_the_artwork_sits(index, works, mirrored):
    image = works["art102"]
    if mirrored:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    canvas = Image.new("RGB", (1600, 1200), (235, 235, 240))
    ImageDraw.Draw(canvas).rectangle((0, 0, 1600, 120), fill=(30, 30, 60))
    canvas.paste(image.resize((648, 486)), (800, 500))  # x 0.5-0.905, y 0.4167-0.8217
    match = only(search(index, canvas), "art102")
    assert match.kind == "partial" and match.region is not None
    expected = {"x0": 0.5, "y0": 0.4167, "x1": 0.905, "y1": 0.8217}
    for side, value in expected.items():
        assert abs(match.region[side] - value) < 0.03, (side, match.region)


def test_whole_image_matches_carry_no_region(index, works):
    match = only(search(index, works["art101"]), "art101")
    assert match.kind in ("exact", "near") and match.region is None
