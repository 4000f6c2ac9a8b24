"""Safe, reduced-size decoding of untrusted image bytes into one canonical RGB picture.

Everything the fingerprints need is computed at about ``WORK_AREA`` pixels, so decoding at
full size is wasted work: JPEGs are decoded at 1/2, 1/4 or 1/8 scale (``draft``), other
formats are shrunk with ``Image.reduce`` before resampling. The header is read first and an
image whose pixel count exceeds ``MAX_PIXELS`` is refused before any pixel data is inflated,
so a small file claiming 40000x40000 pixels costs nothing; a JPEG of more than ``MAX_SCANS``
scans is refused the same way. Every refusal is an ``ImageRejected`` whose ``reason`` is one
of ``REASONS``.
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pyspng
from PIL import Image, UnidentifiedImageError

from pipelines.errors import ImageRejected

# Largest pixel area of the working image every fingerprint is computed from (512x512,
# whatever the aspect); larger pictures are brought to between a quarter of it and all of it
# by integer reduction only (JPEG DCT scaling, then a box filter), the cheapest resampling
# there is. An area rather than a longest side, so a tall phone screenshot keeps the artwork
# inside it at a usable size.
WORK_AREA = 512 * 512
# 50 MP is above any photo a platform serves (they re-encode to a few MP) and far below what
# would hurt a worker: the decoded 512 px copy is what stays in memory, not the original.
MAX_PIXELS = 50_000_000
# Below this an image carries too little detail for any fingerprint to mean anything.
MIN_SIDE = 32
# A progressive JPEG is decoded scan by scan over the whole picture, so its cost is scans x
# pixels: libjpeg's default script writes 10 scans (6 for grey), while a 360 KB file of
# ~1,000 repeated scans took 30 s of CPU. Counted in the bytes before decoding.
MAX_SCANS = 100
# Rows composited on white at a time when a picture with alpha is shrunk: the whole picture
# at once held two more full-size copies (a 49 MP RGBA PNG peaked at ~800 MB in a worker).
STRIP_ROWS = 256

REASONS = (
    "empty",
    "not_an_image",
    "too_many_pixels",
    "too_many_scans",
    "truncated",
    "corrupt",
    "too_small",
    "low_information",
)

_MARKUP_PREFIXES = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<svg", b"{")
_WHITE = (255, 255, 255)
_ORIENTATION = 0x0112  # the EXIF tag
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode(data: bytes, area: int = WORK_AREA) -> Image.Image:
    """Open untrusted bytes and return the canonical RGB working image (see ``prepare``);
    ``area`` larger than WORK_AREA gives a more detailed copy (region proposals of composite
    pictures are described from one)."""
    if not data:
        raise ImageRejected("empty", "zero bytes")
    if data[:64].lstrip().lower().startswith(_MARKUP_PREFIXES):
        raise ImageRejected("not_an_image", "the bytes are a text document (HTML, XML or JSON)")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageRejected("too_many_pixels", str(exc)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("not_an_image", "no known image format") from exc
    _check_scans(image, data)
    fast = _plain_png(image, data, area)
    return fast if fast is not None else prepare(image, area)


def prepare(image: Image.Image, area: int = WORK_AREA) -> Image.Image:
    """Return ``image`` as RGB, upright, composited on white, at most WORK_AREA pixels.

    Images larger than WORK_AREA come out with between a quarter of it and all of it.

    Works on a lazily opened file (then the pixel limit is enforced before decoding and JPEGs
    are decoded at reduced scale) as well as on an already loaded picture. Only the first
    frame of an animation is used.
    """
    _check_size(image)
    _draft(image, area)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageRejected("too_many_pixels", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
        raise ImageRejected(reason, str(exc)) from exc
    orientation = image.getexif().get(_ORIENTATION, 1)
    small = _flatten_small(image, area)
    # Turned after shrinking: the same result at a fraction of the cost (exif_transpose
    # would also copy the full-size picture when there is nothing to turn).
    return small.transpose(_TURNS[orientation]) if orientation in _TURNS else small


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageRejected("too_many_pixels", f"{width}x{height} exceeds {MAX_PIXELS} pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageRejected("too_small", f"{width}x{height} is below {MIN_SIDE} px")


def _check_scans(image: Image.Image, data: bytes) -> None:
    """Refuse a JPEG with more than MAX_SCANS scans, before libjpeg sees it.

    Every start-of-scan marker is the bytes FF DA: entropy-coded data follows each FF with 00
    or a restart number, so the count is never below the real one; an FF DA inside metadata
    (an EXIF thumbnail has one scan) can only raise it, and MAX_SCANS leaves room for that.
    """
    if image.format in ("JPEG", "MPO") and (scans := data.count(b"\xff\xda")) > MAX_SCANS:
        raise ImageRejected("too_many_scans", f"{scans} scans exceed {MAX_SCANS}")


def _plain_png(image: Image.Image, data: bytes, area: int) -> Image.Image | None:
    """Decode an 8-bit RGB or grey, still, unrotated PNG with libspng (about 1.4x Pillow's
    speed: PNG cannot be decoded at reduced size, so inflating it is most of the cost).

    Anything else (alpha, palettes, 16 bits, animation, an EXIF chunk) and anything libspng
    refuses returns None and goes through Pillow, which names the reason.
    """
    plain = image.format == "PNG" and image.mode in ("RGB", "L")
    if not plain or getattr(image, "is_animated", False) or data.find(b"eXIf") >= 0:
        return None
    _check_size(image)  # from the header, before a single pixel is inflated
    try:
        pixels = pyspng.load(data)
    except RuntimeError:
        return None
    if pixels.dtype != np.uint8 or pixels.shape[:2] != image.size[::-1]:
        return None
    scale = _scale(*image.size, area)
    factor = math.ceil(1 / scale) if scale < 1 else 1
    if factor > 1:  # the box filter of Image.reduce, as cv2's integer-factor area resampling
        height, width = (side // factor for side in pixels.shape[:2])
        cut = pixels[: height * factor, : width * factor]
        pixels = cv2.resize(cut, (width, height), interpolation=cv2.INTER_AREA)
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    return Image.fromarray(pixels, "RGB")


def _draft(image: Image.Image, area: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale keeping half the working side."""
    if image.format != "JPEG":  # after load() the tile list is empty and draft is a no-op
        return
    width, height = image.size
    half = _scale(width, height, area) / 2
    if half < 0.5:
        image.draft(None, (max(1, int(width * half) + 1), max(1, int(height * half) + 1)))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode (CMYK, 16-bit, palette, alpha) to 8-bit RGB on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _to_8bit_grey(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """Map a 16-bit or float greyscale image onto 0..255 by its own value range."""
    values = np.asarray(image, dtype=np.float32)
    if image.mode.startswith("I;16") or (image.mode == "I" and values.max(initial=0) > 255):
        values = values / 257.0
    elif image.mode == "F":
        low, high = float(values.min(initial=0)), float(values.max(initial=0))
        values = (values - low) * (255.0 / (high - low)) if high > low else values * 0
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")


def _flatten_small(image: Image.Image, area: int) -> Image.Image:
    """``_shrink(_to_rgb(image))``, strip by strip for a picture with alpha or a palette.

    Strips are whole multiples of the reduction factor, so the result is the same picture
    as compositing and reducing it all at once, without the full-size copies.
    """
    scale = _scale(*image.size, area)
    if scale >= 1 or image.mode not in ("RGBA", "LA", "PA", "RGBa", "La", "P"):
        return _shrink(_to_rgb(image), area)
    factor = math.ceil(1 / scale)
    rows = factor * max(1, STRIP_ROWS // factor)
    width, height = image.size
    small = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(top + rows, height)))
        small.paste(_to_rgb(strip).reduce(factor), (0, top // factor))
    return small


def _scale(width: int, height: int, area: int = WORK_AREA) -> float:
    return (area / (width * height)) ** 0.5


def _shrink(image: Image.Image, area: int) -> Image.Image:
    scale = _scale(*image.size, area)
    return image if scale >= 1 else image.reduce(math.ceil(1 / scale))
