"""Procedural artworks: deterministic, artwork-like images for the demo, tests and benchmarks.

Real portfolios cannot ship with an open-source project, and flat test patterns would be
refused as low-information; these "paintings" (a wavy colour ground, texture, overlapping
shapes with outlines) have the gradients, edges and corners real artworks give the
fingerprints. The same seed always gives the same picture.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def artwork(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A procedural 'painting': gradient ground, textured noise, overlapping shapes."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ground = np.stack(
        [
            127
            + 90 * np.sin(x / rng.uniform(40, 160) + rng.uniform(0, 6))
            + 30 * np.cos(y / rng.uniform(40, 160))
            for _ in range(3)
        ],
        axis=2,
    )
    ground += rng.normal(0, 12, ground.shape)
    image = Image.fromarray(np.clip(ground, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(14, 24))):
        box = sorted(rng.integers(0, width, 2)), sorted(rng.integers(0, height, 2))
        xy = [box[0][0], box[1][0], box[0][1] + 8, box[1][1] + 8]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse(xy, fill=fill, outline=(0, 0, 0), width=2)
        elif shape == 1:
            draw.rectangle(xy, fill=fill)
        else:
            points = [tuple(int(v) for v in p) for p in rng.integers(0, (width, height), (5, 2))]
            draw.polygon(points, fill=fill, outline=(20, 20, 20))
    return image.filter(ImageFilter.SMOOTH)


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """The image as file bytes in ``fmt`` (JPEG, PNG, WEBP, ...)."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()
