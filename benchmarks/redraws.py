"""Stand-ins for light AI re-draws: classic filters that keep composition and palette and
lose texture and lines (stylization, cartoon, coloured pencil, flat k-colour repaint,
posterize), from OpenCV and Pillow. Each runs at most 640 px on the longer side, the size an
image-to-image model works at, and is returned at that size. Matches of these are expected
as ``derivative``.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps


def _small(image: Image.Image) -> np.ndarray:
    copy = image.convert("RGB")
    copy.thumbnail((640, 640))
    return np.asarray(copy)


def stylize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    pixels = _small(image)
    sigma_s, sigma_r = float(rng.uniform(40, 80)), float(rng.uniform(0.35, 0.55))
    return Image.fromarray(cv2.stylization(pixels, sigma_s=sigma_s, sigma_r=sigma_r))


def cartoon(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Flattened colours (repeated bilateral filtering) under dark adaptive-threshold lines."""
    pixels = _small(image)
    flat = pixels
    for _ in range(int(rng.integers(3, 6))):
        flat = cv2.bilateralFilter(flat, 9, 60, 9)
    grey = cv2.medianBlur(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), 7)
    lines = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    return Image.fromarray(cv2.bitwise_and(flat, flat, mask=lines))


def pencil_colour(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    pixels = _small(image)
    shade = float(rng.uniform(0.03, 0.07))
    _, colour = cv2.pencilSketch(pixels, sigma_s=60, sigma_r=0.07, shade_factor=shade)
    return Image.fromarray(colour)


def kcolour(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A flat repaint in k colours (k-means on a sample of the pixels), edges softened."""
    pixels = _small(image)
    k = int(rng.integers(5, 11))
    flat = pixels.reshape(-1, 3).astype(np.float32)
    sample = flat[rng.choice(len(flat), min(len(flat), 20_000), replace=False)]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(int(rng.integers(0, 2**31)))
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    distance = ((flat[:, None, :] - centres[None]) ** 2).sum(axis=2)
    painted = centres[distance.argmin(axis=1)].reshape(pixels.shape).astype(np.uint8)
    return Image.fromarray(cv2.medianBlur(painted, 5))


def posterize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    small = Image.fromarray(_small(image)).filter(ImageFilter.MedianFilter(5))
    return ImageOps.posterize(small, int(rng.integers(2, 4)))


REDRAWS = {
    "stylize": stylize,
    "cartoon": cartoon,
    "pencil_colour": pencil_colour,
    "kcolour": kcolour,
    "posterize": posterize,
}
