"""Image fingerprints: the values the portfolio index compares, one class per algorithm.

``fingerprint(image)`` turns a picture (``PIL.Image`` or untrusted bytes) into a
``Fingerprint`` made of the parts of the registered algorithm classes (PDQ, pHash, ORB local
features, embedded regions), all computed from one working image (``pipelines.engine.decode``).
A new algorithm is one class decorated with ``@algorithm`` (``pipelines.engine.registry``):
it names its document key and converts its part to and from the stored document, which
``Fingerprint.to_document`` / ``from_document`` iterate. A stored document whose
``FINGERPRINT_VERSION`` differs is stale (``is_current``): fingerprint the image again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import pdqhash
import scipy.fftpack
from PIL import Image

from pipelines.engine.decode import decode, prepare
from pipelines.engine.descriptor import SscdDescriptor
from pipelines.engine.exact import ColourLayout, ContentDigest
from pipelines.engine.regions import RegionDescriptors
from pipelines.engine.registry import ALGORITHMS, algorithm
from pipelines.errors import ImageRejected

# Bump whenever any algorithm, its parameters or the working-image preparation changes:
# fingerprints of different versions are not comparable.
FINGERPRINT_VERSION = 6

# A picture whose every colour channel varies less than this (standard deviation, 0..255,
# over its 64x64 reduction) is a flat colour or nearly so: nothing in it can identify an
# artwork.
FLAT_STD = 3.0
_AREA = cv2.INTER_AREA


@algorithm
class PdqFingerprint:
    """Meta's PDQ: 256 bits from a 64x64 DCT, with a 0..100 quality score.

    ``from_image`` returns all eight dihedral variants (original, rot90, rot180, rot270,
    flip-vertical, flip-horizontal, rot90+flip-vertical, rot90+flip-horizontal, the order of
    ``pdqhash.compute_dihedral``), so a query matches flipped or turned artworks without the
    index storing eight hashes per work.
    """

    name: ClassVar[str] = "pdq"
    bits: ClassVar[int] = 256
    size: ClassVar[int] = 32
    variants: ClassVar[int] = 8
    # Meta's published default match threshold for PDQ (ThreatExchange pdq README and
    # hashing.pdf): 31 differing bits of 256.
    threshold: ClassVar[int] = 31
    # Meta's PDQ documentation: hashes with quality below 50 come from featureless images
    # and should not be used for matching.
    quality_floor: ClassVar[int] = 50
    # PDQ is computed on the working image area-averaged to this square. PDQ downsamples to
    # 64x64 itself; doing it first is ~20x cheaper than hashing 512 px, and at exactly 64x64
    # its dihedral variants equal the hashes of the flipped/turned image (0 bits apart, where
    # 256 px inputs gave 18-34 bits: measured on skimage and generated images).
    input_side: ClassVar[int] = 64

    @classmethod
    def from_image(cls, rgb: np.ndarray) -> tuple[bytes, int]:
        """Return the eight variant hashes concatenated (8 x 32 bytes) and the quality."""
        hashes, quality = pdqhash.compute_dihedral(rgb)
        packed = np.packbits(np.asarray(hashes, dtype=np.uint8), axis=1)
        return packed.tobytes(), int(quality)

    @staticmethod
    def distance(a: bytes, b: bytes) -> int:
        """Hamming distance between two 32-byte hashes."""
        return hamming(a, b)

    @classmethod
    def to_field(cls, fp: Fingerprint) -> Any:
        return {"hashes": fp.pdq, "quality": fp.pdq_quality}

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"pdq": bytes(value["hashes"]), "pdq_quality": int(value["quality"])}


@algorithm
class PHashFingerprint:
    """imagehash's pHash: 64 bits from the low frequencies of a 32x32 DCT.

    ``from_image`` returns the hash of each of PDQ's eight dihedral variants, in PDQ's
    order, so the variant PDQ matched can be confirmed by pHash in the same orientation.
    """

    name: ClassVar[str] = "phash"
    bits: ClassVar[int] = 64
    size: ClassVar[int] = 8
    variants: ClassVar[int] = PdqFingerprint.variants
    # Second opinion only, never a match on its own: confirms a PDQ distance between 25 and
    # 31 (pipelines.engine.index.Rule says where the number comes from).
    threshold: ClassVar[int] = 16
    # numpy views of a 2-D array giving pdqhash.compute_dihedral's variants, in its order
    # (checked against pdqhash in tests/test_pipelines_fingerprint.py).
    dihedral: ClassVar[tuple] = (
        lambda a: a,
        np.rot90,
        lambda a: np.rot90(a, 2),
        lambda a: np.rot90(a, 3),
        lambda a: a[::-1],
        lambda a: a[:, ::-1],
        lambda a: np.swapaxes(a, 0, 1),
        lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
    )

    @classmethod
    def from_image(cls, grey: np.ndarray) -> bytes:
        """Return the eight variant hashes (8 x 8 bytes) of a small greyscale array.

        Variant 0 is ``imagehash.phash`` bit for bit (a test holds it to that); the others
        apply the dihedral views to imagehash's 32x32 reduction instead of reducing eight
        times, which only moves pixels, so each equals imagehash's hash of the turned image
        up to rounding in the reduction.
        """
        small = Image.fromarray(grey).convert("L").resize((32, 32), Image.Resampling.LANCZOS)
        pixels = np.asarray(small)
        hashes = []
        for view in cls.dihedral:
            dct = scipy.fftpack.dct(scipy.fftpack.dct(view(pixels), axis=0), axis=1)[:8, :8]
            hashes.append(np.packbits(dct > np.median(dct)).tobytes())
        return b"".join(hashes)

    @staticmethod
    def distance(a: bytes, b: bytes) -> int:
        """Hamming distance between two 8-byte hashes."""
        return hamming(a, b)

    @classmethod
    def to_field(cls, fp: Fingerprint) -> Any:
        return fp.phash.hex()

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"phash": bytes.fromhex(value)}


@algorithm
class OrbFeatures:
    """OpenCV ORB keypoints and 256-bit binary descriptors of the working image.

    Positions are stored as uint16 in 1/16 px (working images are far below 4096 px), the
    descriptors as 32 bytes each: ``max_features`` x 36 bytes per image.
    """

    name: ClassVar[str] = "orb"
    size: ClassVar[int] = 32
    # Keep this many, detected among detect_features and spread over a grid: left to ORB,
    # captions and UI text (the strongest corners) take every keypoint and the artwork gets
    # none. Both numbers were chosen on the calibration split (benchmarks/accuracy.py):
    # 1000/200 left captions, watermarks, 40 % crops and combinations at 0.90 recall,
    # 2000/256 lifted them to 0.90-0.95 (overall 0.978 -> 0.984) for ~2 ms and 2 KB more.
    # Detected corners are ranked by their FAST score rather than ORB's default Harris
    # response: cheaper, and on the calibration split better (0.987 -> 0.995 overall; 40 %
    # crops 0.90 -> 0.97). Tried there and dropped: 800 detected (text 0.97 -> 0.90), FAST
    # threshold 20 (0.982), 4 pyramid levels at 1.5 (0.971).
    max_features: ClassVar[int] = 256
    detect_features: ClassVar[int] = 2000
    score: ClassVar[int] = cv2.ORB_FAST_SCORE
    grid: ClassVar[int] = 4
    # An image with fewer keypoints than this cannot be verified geometrically (it is
    # pipelines.engine.index.Rule.min_inliers, which this module cannot import).
    min_features: ClassVar[int] = 14
    _xy_scale: ClassVar[float] = 16.0
    _local = threading.local()

    @classmethod
    def _detector(cls) -> cv2.ORB:
        # cv2 algorithm objects are not thread-safe; one per worker thread.
        detector = getattr(cls._local, "orb", None)
        if detector is None:
            detector = cv2.ORB_create(
                nfeatures=cls.detect_features, fastThreshold=12, scoreType=cls.score
            )
            cls._local.orb = detector
        return detector

    @classmethod
    def from_image(cls, grey: np.ndarray) -> tuple[bytes, bytes, bytes, bytes]:
        """Return (positions, descriptors) of the picture, then of its mirror image, as bytes.

        ORB is not mirror-invariant, so a flipped repost (a flip and a crop together) shares
        no descriptors with the artwork. The mirror's keypoints are the same points reflected,
        with the reflected orientation; describing them on the flipped picture gives the
        descriptors ORB would find there (0 bits apart, measured), for one more description
        pass instead of a second detection. Everything is empty when nothing was found.
        """
        detector = cls._detector()
        keypoints = detector.detect(grey, None)
        if not keypoints:
            return b"", b"", b"", b""
        # Describing only the kept keypoints is cheaper than describing all detected ones.
        chosen = [keypoints[i] for i in cls._spread(keypoints, grey.shape)]
        chosen, descriptors = detector.compute(grey, chosen)
        if descriptors is None or not chosen:
            return b"", b"", b"", b""
        right = grey.shape[1] - 1
        mirrored = [
            cv2.KeyPoint(right - k.pt[0], k.pt[1], k.size, (180 - k.angle) % 360, 0, k.octave)
            for k in chosen
        ]
        mirrored, mirror_desc = detector.compute(cv2.flip(grey, 1), mirrored)
        return cls._pack(chosen, descriptors) + cls._pack(mirrored, mirror_desc)

    @classmethod
    def _pack(cls, keypoints, descriptors) -> tuple[bytes, bytes]:
        if descriptors is None or not keypoints:
            return b"", b""
        xy = cv2.KeyPoint_convert(keypoints) * cls._xy_scale
        return np.round(xy).astype("<u2").tobytes(), descriptors.astype(np.uint8).tobytes()

    @classmethod
    def _spread(cls, keypoints, shape: tuple[int, ...]) -> np.ndarray:
        """Indices of the strongest keypoints, an equal share per grid cell, then the rest."""
        height, width = shape[:2]
        xy = cv2.KeyPoint_convert(keypoints)
        response = np.array([kp.response for kp in keypoints], dtype=np.float32)
        cell = (xy[:, 1] * cls.grid / height).astype(int) * cls.grid
        cell += (xy[:, 0] * cls.grid / width).astype(int)
        order = np.lexsort((-response, cell))  # by cell, strongest first within a cell
        starts = np.searchsorted(cell[order], cell[order], side="left")
        rank_in_cell = np.arange(len(order)) - starts
        quota = -(-cls.max_features // (cls.grid * cls.grid))
        first = order[rank_in_cell < quota]
        first = first[np.argsort(-response[first], kind="stable")]
        rest = order[rank_in_cell >= quota]
        rest = rest[np.argsort(-response[rest], kind="stable")]
        return np.concatenate([first, rest])[: cls.max_features]

    @classmethod
    def positions(cls, packed: bytes) -> np.ndarray:
        """Decode stored positions to an (n, 2) float32 array in working-image pixels."""
        return np.frombuffer(packed, dtype="<u2").reshape(-1, 2).astype(np.float32) / cls._xy_scale

    @classmethod
    def descriptors(cls, packed: bytes) -> np.ndarray:
        """Decode stored descriptors to an (n, 32) uint8 array."""
        return np.frombuffer(packed, dtype=np.uint8).reshape(-1, cls.size)

    # Stored key -> Fingerprint field.
    _fields: ClassVar[dict[str, str]] = {
        "xy": "orb_xy",
        "desc": "orb_desc",
        "mirror_xy": "orb_mirror_xy",
        "mirror_desc": "orb_mirror_desc",
    }

    @classmethod
    def to_field(cls, fp: Fingerprint) -> Any:
        return {key: getattr(fp, field) for key, field in cls._fields.items()}

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {field: bytes(value[key]) for key, field in cls._fields.items()}


@algorithm
class EmbeddedRegions:
    """PDQ and pHash of the rectangles where a picture sits inside a larger one.

    Screenshots, meme frames and borders put the artwork on a plain background; the artwork
    is then the large solid blob left after removing everything close to the background
    colour (the median of the image's outer edge) and opening away text and thin chrome.
    Each region found is stored as its PDQ hash (32 bytes), pHash (8 bytes) and PDQ quality
    (1 byte), so the whole-image path can match it without local features.
    """

    name: ClassVar[str] = "regions"
    record: ClassVar[int] = PdqFingerprint.size + PHashFingerprint.size + 1
    max_regions: ClassVar[int] = 2
    # A region smaller than this share of the picture is a sticker or an avatar, one larger
    # is the picture itself (the whole-image hashes already cover it).
    min_share: ClassVar[float] = 0.06
    max_share: ClassVar[float] = 0.85
    # Colour distance (max over channels) that separates content from background.
    tolerance: ClassVar[int] = 20
    # The search runs on a copy of about this many pixels (regions are large, so detail is
    # not needed), with a 3x3 opening that removes text strokes at that scale.
    search_area: ClassVar[int] = 160 * 160

    @classmethod
    def boxes(cls, rgb: np.ndarray, reduced=None) -> list[tuple[int, int, int, int]]:
        """Up to ``max_regions`` (x0, y0, x1, y1) boxes in ``rgb``'s pixels, largest first.

        ``reduced`` is ``_reduced(rgb, search_area)`` when the caller already made it.
        """
        small, factor = reduced or _reduced(rgb, cls.search_area)
        scale = 1 / factor
        edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
        background = np.median(edge, axis=0).astype(np.uint8)
        content = (_distance(small, background) > cls.tolerance).astype(np.uint8)
        square = np.ones((3, 3), np.uint8)
        mask = cv2.morphologyEx(content, cv2.MORPH_OPEN, square)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, square)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        found: list[tuple[int, int, int, int]] = []
        for x, y, w, h, area in sorted(stats[1:count].tolist(), key=lambda s: -s[4]):
            share = w * h / (small.shape[0] * small.shape[1])
            if cls.min_share <= share <= cls.max_share and area >= 0.5 * w * h:
                box = (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
                found.append(cls._refine(rgb, background, box, margin=2 / scale))
            if len(found) == cls.max_regions:
                break
        return found

    @classmethod
    def _refine(cls, rgb, background, box, margin: float) -> tuple[int, int, int, int]:
        """Snap a box found on the small copy to the content edges at full resolution: a
        few pixels of background or lost artwork change a PDQ hash by tens of bits."""
        height, width = rgb.shape[:2]
        x0, y0 = max(0, int(box[0] - margin)), max(0, int(box[1] - margin))
        x1, y1 = min(width, int(box[2] + margin) + 1), min(height, int(box[3] + margin) + 1)
        part = rgb[y0:y1, x0:x1]
        content = _distance(part, background) > cls.tolerance
        rows = np.flatnonzero(content.mean(axis=1) > 0.5)
        cols = np.flatnonzero(content.mean(axis=0) > 0.5)
        if len(rows) < 2 or len(cols) < 2:
            return round(box[0]), round(box[1]), round(box[2]), round(box[3])
        return x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1

    @classmethod
    def from_image(cls, rgb: np.ndarray, reduced=None, boxes=None) -> bytes:
        """Concatenated records of every region found (empty when there is none); ``boxes``
        when the caller already found them."""
        records = []
        for x0, y0, x1, y1 in cls.boxes(rgb, reduced) if boxes is None else boxes:
            part = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            side = PdqFingerprint.input_side
            pdq, quality = pdqhash.compute(cv2.resize(part, (side, side), interpolation=_AREA))
            grey = cv2.cvtColor(_fit(part, 64), cv2.COLOR_RGB2GRAY)
            phash = PHashFingerprint.from_image(grey)[: PHashFingerprint.size]
            records.append(np.packbits(pdq.astype(np.uint8)).tobytes() + phash + bytes([quality]))
        return b"".join(records)

    @classmethod
    def to_field(cls, fp: Fingerprint) -> Any:
        return fp.regions

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        return {"regions": bytes(value)}


# Detection v2's types live in their own modules; registered here, after the types above,
# so stored documents keep their earlier parts first and in order.
for _type in (SscdDescriptor, RegionDescriptors, ContentDigest, ColourLayout):
    algorithm(_type)


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equally long byte strings."""
    if len(a) != len(b):
        raise ValueError(f"cannot compare hashes of {len(a)} and {len(b)} bytes")
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return int(np.bitwise_count(x).sum())


@dataclass(frozen=True)
class Fingerprint:
    """Everything the decision rule needs about one image, as plain bytes and ints."""

    pdq: bytes
    pdq_quality: int
    phash: bytes
    orb_xy: bytes
    orb_desc: bytes
    width: int
    height: int
    regions: bytes = b""
    orb_mirror_xy: bytes = b""
    orb_mirror_desc: bytes = b""
    descriptor: bytes = b""  # SscdDescriptor; b"" without the model
    proposals: bytes = b""  # RegionDescriptors of a composite picture
    digest: bytes = b""  # ContentDigest
    colour: bytes = b""  # ColourLayout
    version: int = FINGERPRINT_VERSION

    @property
    def pdq_hashes(self) -> np.ndarray:
        """The eight dihedral PDQ hashes as an (8, 32) uint8 array; row 0 is as-is."""
        return np.frombuffer(self.pdq, dtype=np.uint8).reshape(PdqFingerprint.variants, -1)

    def phash_variant(self, variant: int) -> bytes:
        """The pHash of dihedral variant ``variant`` (0 is the image as it is)."""
        size = PHashFingerprint.size
        return self.phash[variant * size : (variant + 1) * size]

    @property
    def pdq_usable(self) -> bool:
        """PDQ of a low-quality image says nothing and must never be matched."""
        return self.pdq_quality >= PdqFingerprint.quality_floor

    def usable_regions(self) -> list[tuple[bytes, bytes]]:
        """(PDQ, pHash) of each embedded region whose PDQ quality reaches the floor."""
        size, found = EmbeddedRegions.record, []
        for start in range(0, len(self.regions), size):
            record = self.regions[start : start + size]
            if record[-1] >= PdqFingerprint.quality_floor:
                found.append((record[: PdqFingerprint.size], record[PdqFingerprint.size : -1]))
        return found

    @property
    def feature_count(self) -> int:
        return len(self.orb_desc) // OrbFeatures.size

    def to_document(self) -> dict[str, Any]:
        """A MongoDB-ready dict: bytes and ints keyed by algorithm name, plus the version."""
        document: dict[str, Any] = {"version": self.version, "size": [self.width, self.height]}
        for name, kind in ALGORITHMS.items():
            document[name] = kind.to_field(self)
        return document

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Fingerprint:
        """Rebuild from ``to_document()`` output; refuses a stale or malformed document."""
        if not is_current(doc):
            raise ValueError(
                f"fingerprint version {doc.get('version')!r} is not {FINGERPRINT_VERSION}: "
                "fingerprint the image again"
            )
        try:
            width, height = doc["size"]
            fields: dict[str, Any] = {"width": int(width), "height": int(height)}
            for name, kind in ALGORITHMS.items():
                fields.update(kind.from_field(doc[name]))
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed fingerprint document: {exc}") from exc


def is_current(doc: dict[str, Any] | None) -> bool:
    """True when a stored fingerprint document was made by this version of the engine."""
    return bool(doc) and doc.get("version") == FINGERPRINT_VERSION


def fingerprint(image: Image.Image | bytes) -> Fingerprint:
    """Fingerprint a picture or untrusted bytes; raises ``ImageRejected(reason)`` if unusable.

    Bytes are decoded safely (see ``pipelines.engine.decode``). Flat images are refused as
    ``low_information``; a low-quality PDQ is kept but matched only by the tight low-detail
    test (``pipelines.engine.exact``).
    """
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        digest = ContentDigest.of_bytes(data)
        work = decode(data)
        detail = lambda: np.asarray(decode(data, RegionDescriptors.detail_area))  # noqa: E731
    else:
        work = prepare(image)
        digest = ContentDigest.of_pixels(np.asarray(work))
        detail = lambda: np.asarray(prepare(image, RegionDescriptors.detail_area))  # noqa: E731
    rgb = np.asarray(work)
    side = PdqFingerprint.input_side
    # PDQ straight from the working image: from the reduced copy below, re-encoded copies
    # drifted (calibration: resize PDQ median 2 -> 6 bits) and fell out of "exact".
    thumb = cv2.resize(rgb, (side, side), interpolation=_AREA)
    if float(thumb.reshape(-1, 3).std(axis=0).max()) < FLAT_STD and _flat(rgb):
        raise ImageRejected("low_information", "flat colour")
    pdq, quality = PdqFingerprint.from_image(thumb)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    orb_xy, orb_desc, mirror_xy, mirror_desc = OrbFeatures.from_image(grey)
    # One integer-factor reduction feeds pHash and the region search: cv2's area resampling
    # to arbitrary sizes costs ~0.5 ms more per image, twice over.
    reduced = _reduced(rgb, EmbeddedRegions.search_area)
    phash = PHashFingerprint.from_image(_fit(cv2.cvtColor(reduced[0], cv2.COLOR_RGB2GRAY), 64))
    height, width = grey.shape
    boxes = EmbeddedRegions.boxes(rgb, reduced)
    regions = EmbeddedRegions.from_image(rgb, reduced, boxes)
    return Fingerprint(
        pdq,
        quality,
        phash,
        orb_xy,
        orb_desc,
        width,
        height,
        regions,
        mirror_xy,
        mirror_desc,
        descriptor=SscdDescriptor.from_image(rgb),
        proposals=RegionDescriptors.from_image(rgb, boxes, detail),
        digest=digest,
        colour=ColourLayout.from_image(thumb),
    )


def _flat(rgb: np.ndarray) -> bool:
    """True when the working image itself is flat too: a fine texture averages to a flat
    thumbnail but is a work (low-detail works are matched by ``pipelines.engine.exact``)."""
    return float(rgb.reshape(-1, 3).std(axis=0).max()) < FLAT_STD


def _reduced(rgb: np.ndarray, area: int) -> tuple[np.ndarray, int]:
    """``rgb`` shrunk by the integer factor that brings it nearest ``area`` pixels (never
    enlarged), and the factor; integer factors are cv2's fast area-resampling path."""
    height, width = rgb.shape[:2]
    factor = max(1, round((width * height / area) ** 0.5))
    if factor == 1:
        return rgb, 1
    height, width = height // factor, width // factor
    cut = rgb[: height * factor, : width * factor]
    return cv2.resize(cut, (width, height), interpolation=_AREA), factor


def _distance(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Largest per-channel difference from ``colour``, per pixel (``max(axis=2)`` is ~5x
    slower on 3-channel arrays)."""
    diff = cv2.absdiff(rgb, np.full_like(rgb, colour))
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


def _fit(pixels: np.ndarray, side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(pixels, size, interpolation=_AREA)
