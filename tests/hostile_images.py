"""Hostile images generated in the tests: progressive-JPEG scan bombs and huge PNGs.

A scan bomb is an ordinary progressive JPEG of a flat picture whose last scan is repeated:
libjpeg decodes every repeat over the whole picture, so the cost grows with scans x pixels
while the file stays a few hundred KB.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def scan_bomb(side: int, scans: int, colour: tuple[int, int, int] = (120, 80, 40)) -> bytes:
    """A ``side`` x ``side`` progressive JPEG with ``scans`` start-of-scan markers."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    assert data.endswith(b"\xff\xd9")
    last = data[data.rindex(b"\xff\xda") : -2]
    extra = scans - data.count(b"\xff\xda")
    assert extra >= 0
    return data[:-2] + last * extra + b"\xff\xd9"


def big_rgba_png(width: int = 7000, height: int = 7000) -> bytes:
    """A ``width`` x ``height`` RGBA PNG (49 MP by default) that compresses to about 1 MB."""
    image = Image.new("RGBA", (width, height), (200, 100, 50, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (width // 7, height // 7, width * 6 // 7, height * 6 // 7), fill=(20, 40, 200, 128)
    )
    draw.rectangle((0, 0, width * 3 // 7, height * 2 // 7), fill=(0, 0, 0, 0))
    for step in range(0, width, 97):
        draw.line((step, 0, width - step, height), fill=(255, 255, 255, 200), width=9)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()
