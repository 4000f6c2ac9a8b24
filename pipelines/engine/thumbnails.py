"""Small JPEG copies for evidence: the artwork and the found image, side by side."""

from __future__ import annotations

import io

from PIL import Image

THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 80


def thumbnail(image: Image.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of ``image`` (RGB) whose longest side is at most ``side`` pixels."""
    copy = image.convert("RGB")
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return buffer.getvalue()
