"""Region proposals: the rectangles inside a composite picture that may be a posted picture.

Screenshots, side-by-side comparisons, collages and photos with a picture pasted on them are
made of rectangles, and a rectangle's sides are long straight edges that a painting seldom
has. ``proposals`` finds those edges (rows or columns of a small greyscale copy where the
brightness jumps along an unbroken run) and cuts the picture along them recursively (an
XY-cut): screenshot bands, the post picture between letterbox bars, collage cells. Only a
picture with at least one such interior edge is treated as composite, so ordinary posts pay
for the edge search alone (~1 ms). Each proposal that is not flat UI is described by the
learned descriptor (``RegionDescriptors``), which the index compares like a whole picture.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, ClassVar

import cv2
import numpy as np

from pipelines.engine.descriptor import SscdDescriptor

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in working-image pixels


class RegionDescriptors:
    """Boxes of a composite picture's proposals and the SSCD descriptor of each."""

    name: ClassVar[str] = "proposals"
    box_bytes: ClassVar[int] = 8  # four uint16
    record: ClassVar[int] = box_bytes + SscdDescriptor.dims
    # Descriptors of at most this many proposals, leaves first: ~4 ms each (a 3x3 grid
    # needs nine).
    max_regions: ClassVar[int] = 9
    # Each proposal is described at about this many pixels, upscaled when smaller: a 3x3
    # grid's cell gave cosine 0.69 at its own 122 px, 0.73 at 160 px, 0.79 at 224 px.
    input_area: ClassVar[int] = 192 * 192

    # Proposals are described from a copy of the picture decoded at up to this many pixels
    # (the working image keeps a quarter to all of 512x512: a 3x3 grid's cells came out at
    # 90 px there, too small for the descriptor). Only composite pictures pay for it.
    detail_area: ClassVar[int] = 1024 * 1024

    @classmethod
    def from_image(cls, rgb: np.ndarray, extra: list[Box] = (), detail=None) -> bytes:
        """Records of the proposals of a composite picture; b"" for an ordinary one.

        ``extra`` are boxes found another way (a picture on a plain background), described
        too when the picture is composite. ``detail`` is a callable returning the same
        picture decoded at ``detail_area``, called only for a composite picture; without it
        the proposals are cut from ``rgb``.
        """
        boxes = proposals(rgb)
        if not boxes:  # not composite; ``extra`` alone also fires on plain artworks
            return b""
        chosen = _unique([*extra, *boxes])[: cls.max_regions]
        source = detail() if detail is not None else rgb
        sy, sx = source.shape[0] / rgb.shape[0], source.shape[1] / rgb.shape[1]
        records = []
        for box in chosen:
            x0, y0, x1, y1 = box
            crop = source[round(y0 * sy) : round(y1 * sy), round(x0 * sx) : round(x1 * sx)]
            vector = SscdDescriptor.from_image(crop, cls.input_area)
            if not vector:
                return b""  # no model: proposals without descriptors are of no use
            records.append(np.asarray(box, dtype="<u2").tobytes() + vector)
        return b"".join(records)

    @classmethod
    def unpack(cls, packed: bytes) -> list[tuple[Box, bytes]]:
        """(box, descriptor) of each stored proposal."""
        out = []
        for start in range(0, len(packed) - cls.record + 1, cls.record):
            record = packed[start : start + cls.record]
            box = tuple(int(v) for v in np.frombuffer(record[: cls.box_bytes], "<u2"))
            out.append((box, record[cls.box_bytes :]))
        return out

    @classmethod
    def to_field(cls, fp: Any) -> Any:
        stamp = {"model": SscdDescriptor.model, "version": SscdDescriptor.version}
        return {**stamp, "records": fp.proposals}

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        """Records made by another model or version are stale: dropped, never compared."""
        ok = SscdDescriptor.made_here(value)
        records = bytes(value.get("records") or b"") if ok else b""
        return {"proposals": records if len(records) % cls.record == 0 else b""}


# The edge search runs on a greyscale copy of about this many pixels.
SEARCH_AREA = 256 * 256
# Brightness step (0..255) across a row or column boundary that counts as an edge pixel; the
# seam between two pictures, a picture and UI, or a letterbox bar is far above it.
EDGE_STEP = 20
# An edge is a run of edge pixels this long relative to the box being cut (a share of its
# width for a horizontal edge), with at most GAP of it missing.
# Seams of collages and screenshot bands cross the whole box (SPANS[0]); the sides of a
# picture pasted on a photo cross only part of it (SPANS[1]). Both cuts are made: the first
# alone keeps the shapes inside a collage cell from splitting it.
SPANS = (0.92, 0.5)
GAP = 0.15
# Proposals smaller than this share of the picture (avatars, icons) or thinner than
# MIN_SIDE of its side are not described; nor are flat ones (UI bars, letterbox bars).
MIN_SHARE = 0.04
MAX_SHARE = 0.92
MIN_SIDE = 0.12
FLAT_STD = 12.0
_DEPTH = 3


def proposals(rgb: np.ndarray) -> list[Box]:
    """Rectangles cut along the picture's long interior edges, largest first; [] when the
    picture has no such edge (it does not look composite)."""
    height, width = rgb.shape[:2]
    factor = max(1, round((width * height / SEARCH_AREA) ** 0.5))
    small = cv2.resize(rgb, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    # An edge pixel: any colour channel steps (two pictures of equal brightness still differ).
    rows = _steps(small[1:], small[:-1])  # between rows y and y + 1
    cols = _steps(small[:, 1:], small[:, :-1])
    found: list[tuple[Box, bool]] = []
    for span in SPANS:
        _cut((0, 0, small.shape[1], small.shape[0]), rows, cols, found, _DEPTH, span)
    sh, sw = small.shape[:2]
    leaves, inner = [], []
    for (x0, y0, x1, y1), leaf in found:
        share = (x1 - x0) * (y1 - y0) / (sw * sh)
        thin = (x1 - x0) < MIN_SIDE * sw or (y1 - y0) < MIN_SIDE * sh
        if not MIN_SHARE <= share <= MAX_SHARE or thin:
            continue
        if cv2.meanStdDev(small[y0:y1, x0:x1])[1].max() >= FLAT_STD:  # not a flat UI bar
            box = (x0 * factor, y0 * factor, x1 * factor, y1 * factor)
            (leaves if leaf else inner).append(box)
    # Leaves first (collage cells, the picture between letterbox bars), then the bands
    # holding them; larger first within each.
    by_area = lambda b: -(b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return _unique(sorted(leaves, key=by_area) + sorted(inner, key=by_area))


def _steps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels where some channel of ``a`` and ``b`` differs by more than EDGE_STEP (numpy's
    ``max(axis=2)`` is several times slower on 3-channel arrays)."""
    diff = cv2.absdiff(a, b)
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > EDGE_STEP


def _cut(box: Box, rows, cols, found: list, depth: int, span, axis: str = "") -> bool:
    """Split ``box`` at its interior edges of one direction (the one with more of them) and
    recurse into the pieces; every piece is appended to ``found`` with whether it is a leaf
    (was not cut further). Returns whether ``box`` was cut."""
    x0, y0, x1, y1 = box
    if depth == 0 or x1 - x0 < 16 or y1 - y0 < 16:
        return False
    across = [] if axis == "cols" else _edges(rows[y0 : y1 - 1, x0:x1], span)  # cut rows
    down = [] if axis == "rows" else _edges(cols[y0:y1, x0 : x1 - 1].T, span)  # cut columns
    if not across and not down:
        return False
    if len(across) >= len(down):
        cuts = [y0, *(y0 + c + 1 for c in across), y1]
        pieces = [(x0, a, x1, b) for a, b in pairwise(cuts) if b - a >= 4]
        even = [(x0, a, x1, b) for a, b in _even_split(cuts)]
        across_only = "cols"
    else:
        cuts = [x0, *(x0 + c + 1 for c in down), x1]
        pieces = [(a, y0, b, y1) for a, b in pairwise(cuts) if b - a >= 4]
        even = [(a, y0, b, y1) for a, b in _even_split(cuts)]
        across_only = "rows"
    # Even pieces are cut only the other way: a collage's rows into its cells.
    for piece, way in [*((p, "") for p in pieces), *((p, across_only) for p in even)]:
        at = len(found)
        found.append((piece, True))
        if _cut(piece, rows, cols, found, depth - 1, span, way):
            found[at] = (piece, False)
    return True


def _even_split(cuts: list[int]) -> list[tuple[int, int]]:
    """The even halves or thirds of the span, when the cuts include them and more: a
    collage's seams are found, and so may be a straight edge inside one of its cells, which
    splits that cell; the even split keeps it whole."""
    start, end = cuts[0], cuts[-1]
    size = end - start
    for parts in (3, 2):
        even = [start + size * k // parts for k in range(parts + 1)]
        near = all(any(abs(c - e) <= size * 0.03 for c in cuts) for e in even[1:-1])
        if near and len(cuts) > parts + 1:
            return list(pairwise(even))
    return []


def _edges(lines: np.ndarray, span: float) -> list[int]:
    """Indices of the rows of ``lines`` (edge pixels, one row per boundary) holding an
    almost unbroken run of at least ``span`` of the row, away from the box's own border;
    adjacent indices are merged into one edge."""
    count, length = lines.shape
    if count < 8 or length < 8:
        return []
    window = max(4, int(length * span))
    sums = np.cumsum(np.pad(lines, ((0, 0), (1, 0))), axis=1, dtype=np.int32)
    best = (sums[:, window:] - sums[:, :-window]).max(axis=1)
    hits = np.flatnonzero(best >= (1 - GAP) * window)
    margin = max(2, count // 25)
    hits = hits[(hits >= margin) & (hits < count - margin)]
    merged: list[int] = []
    for h in hits.tolist():
        if not merged or h - merged[-1] > 2:
            merged.append(h)
    return merged


def _unique(boxes: list[Box]) -> list[Box]:
    """Drop boxes that nearly repeat an earlier one (intersection over union above 0.8)."""
    kept: list[Box] = []
    for box in boxes:
        if all(_iou(box, other) < 0.8 for other in kept):
            kept.append(box)
    return kept


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union
