"""Composite edits: the artwork inside a larger picture, drawn with Pillow.

A busy app screenshot (desktop or phone feed: avatars, story circles, icons, text, an ad with
its own photo; the artwork 20-35 % of the area, letterboxed or cut at the bottom by the post's
frame), the artwork pasted on a photo at ~60 % of its side, two pictures side by side, a 3x3
grid. Every other picture in them is ``benchmarks.corpus.filler``, drawn from the edit's own
random generator, so none of it is a portfolio work. Every edit is ``(image, rng) -> image``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.corpus import filler

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_WORDS = [
    "the",
    "art",
    "new",
    "post",
    "like",
    "follow",
    "share",
    "today",
    "look",
    "this",
    "my",
    "work",
    "by",
    "and",
    "of",
    "in",
    "love",
    "wow",
]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def _colour(rng) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _text(draw, rng, xy, size, ink, words=(3, 9)) -> None:
    line = " ".join(rng.choice(_WORDS, int(rng.integers(*words))))
    draw.text(xy, line, font=_font(size), fill=ink)


def _avatar(draw, rng, x, y, r) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng), outline=(200, 60, 120), width=3)


def _framed(image: Image.Image, width: int, height: int, rng) -> Image.Image:
    """The artwork as a feed shows it in a ``width`` x ``height`` frame: scaled to fit with
    black bars (letterbox), or filling the width with its bottom cut off."""
    frame = Image.new("RGB", (width, height), (0, 0, 0))
    if rng.random() < 0.5:  # letterbox
        scale = min(width / image.width, height / image.height)
        shown = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
        frame.paste(shown, ((width - shown.width) // 2, (height - shown.height) // 2))
    else:  # fill the width, cut the bottom (at most a third of the picture)
        scale = max(width / image.width, height / image.height / 1.5)
        shown = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
        frame.paste(shown, ((width - shown.width) // 2, 0))
    return frame


def app_screenshot(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A desktop or phone feed screenshot with the artwork as one post's picture."""
    phone = rng.random() < 0.5
    size = (1080, 2340) if phone else (1920, 1080)
    dark = rng.random() < 0.5
    back, ink = ((16, 16, 20), (230, 230, 230)) if dark else ((250, 250, 250), (25, 25, 25))
    canvas = Image.new("RGB", size, back)
    draw = ImageDraw.Draw(canvas)
    width, height = size
    area = rng.uniform(0.20, 0.35) * width * height
    aspect = float(rng.choice([1.0, 0.8, 1.25]))  # the frame's width / height
    frame_w = int((area * aspect) ** 0.5)
    frame_h = int(frame_w / aspect)
    if phone:
        frame_w = min(frame_w, width)
        left, top = (width - frame_w) // 2, int(rng.uniform(0.25, 0.45) * height)
        draw.rectangle((0, 0, width, 70), fill=(0, 0, 0))
        for i in range(5):  # story circles
            _avatar(draw, rng, 110 + i * 215, 230, 80)
        _text(draw, rng, (40, 120), 40, ink, (1, 3))
    else:
        left, top = int(rng.uniform(0.25, 0.4) * width), int(rng.uniform(0.12, 0.2) * height)
        draw.rectangle((0, 0, width, 60), fill=(40, 40, 48) if dark else (230, 230, 235))
        for i in range(6):  # a side column of avatars and names
            _avatar(draw, rng, 60, 140 + i * 110, 32)
            _text(draw, rng, (110, 125 + i * 110), 24, ink, (1, 3))
    frame_h = min(frame_h, height - top - 60)
    _avatar(draw, rng, left + 30, top - 50, 26)
    _text(draw, rng, (left + 70, top - 68), 30, ink, (2, 4))
    canvas.paste(_framed(image, frame_w, frame_h, rng), (left, top))
    for i in range(4):  # action icons under the post
        x = left + 20 + i * 80
        draw.rounded_rectangle((x, top + frame_h + 15, x + 44, top + frame_h + 59), 10, outline=ink)
    _text(draw, rng, (left, top + frame_h + 80), 30, ink)
    _ad(canvas, draw, rng, phone, left, top, frame_w, frame_h, ink)
    return canvas


def _ad(canvas, draw, rng, phone, left, top, frame_w, frame_h, ink) -> None:
    """A sponsored post with its own photo beside or below the artwork's post."""
    width, height = canvas.size
    if phone:
        ad_top = top + frame_h + 140
        ad_h = min(int(width * 0.5), height - ad_top - 20)
        if ad_h < 80:
            ad_top, ad_h = 320, max(80, top - 120 - 320)
        box = (40, ad_top, width - 40, ad_top + ad_h)
    else:
        x0 = left + frame_w + 60
        box = (x0, 100, min(width - 30, x0 + 420), 100 + 420)
    if box[2] - box[0] < 60 or box[3] - box[1] < 60:
        return
    draw.text((box[0], box[1] - 36), "Sponsored", font=_font(26), fill=ink)
    canvas.paste(filler(rng, box[2] - box[0], box[3] - box[1]), box[:2])


def on_photo(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The artwork at ~60 % of the side of an unrelated photo, pasted on it."""
    share = rng.uniform(0.55, 0.65)
    width = int(image.width / share)
    height = int(image.height / share)
    photo = filler(rng, width, height)
    x = int(rng.uniform(0, width - image.width))
    y = int(rng.uniform(0, height - image.height))
    photo.paste(image, (x, y))
    return photo


def side_by_side(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A comparison post: the artwork and another picture of the same height, a thin gap."""
    other = filler(rng, int(image.height * rng.uniform(0.7, 1.3)), image.height)
    gap = int(rng.integers(0, 12))
    canvas = Image.new("RGB", (image.width + other.width + gap, image.height), (255, 255, 255))
    first, second = (image, other) if rng.random() < 0.5 else (other, image)
    canvas.paste(first, (0, 0))
    canvas.paste(second, (first.width + gap, 0))
    return canvas


def grid3x3(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A 3x3 grid of square cells, the artwork (centre-cropped square) in one of them."""
    cell = 360
    gap = int(rng.integers(0, 8))
    side = 3 * cell + 2 * gap
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    where = int(rng.integers(0, 9))
    for i in range(9):
        if i == where:
            s = min(image.size)
            x0, y0 = (image.width - s) // 2, (image.height - s) // 2
            picture = image.crop((x0, y0, x0 + s, y0 + s)).resize((cell, cell))
        else:
            picture = filler(rng, cell, cell)
        canvas.paste(picture, ((i % 3) * (cell + gap), (i // 3) * (cell + gap)))
    return canvas
