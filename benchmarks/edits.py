"""The edits reposts make, by family: albumentations transforms plus our own compositing.

albumentations (a third-party augmentation library) supplies resize, JPEG, crops, flips,
rotations, colour, greyscale, blur and padding; the compositing it lacks (captions, emoji
stickers, watermarks, meme frames, app screenshots) is drawn here with Pillow. Every edit is
a function ``(image, rng) -> image`` so a split's random seed fixes its outcome.
"""

from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Edit = Callable[[Image.Image, np.random.Generator], Image.Image]

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
_CAPTIONS = (
    "when the AI gets it right",
    "made this in 5 minutes lol",
    "#aiart #midjourney #stablediffusion",
    "nobody: me at 3am",
    "prompt: dreamy, trending on artstation",
)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def _album(transform: A.BasicTransform) -> Edit:
    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        transform.set_random_seed(int(rng.integers(0, 2**31)))
        return Image.fromarray(transform(image=np.asarray(image))["image"])

    return apply


def _crop(fraction: float) -> Edit:
    """Keep a random window of (1 - fraction) of each side, scaled back to full size."""

    def apply(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        keep = 1 - fraction
        h, w = image.height, image.width
        size = (max(1, int(h * keep)), max(1, int(w * keep)))
        crop = A.Compose([A.RandomCrop(*size, p=1), A.Resize(h, w, p=1)])
        return _album(crop)(image, rng)

    return apply


def _resize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = rng.uniform(0.25, 0.6)
    h, w = max(32, int(image.height * scale)), max(32, int(image.width * scale))
    return _album(A.Resize(h, w, p=1))(image, rng)


def _rotate90(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image.transpose(
        [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270][int(rng.integers(0, 2))]
    )


def caption(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    size = max(14, out.width // 14)
    text = _CAPTIONS[int(rng.integers(0, len(_CAPTIONS)))]
    y = int(rng.uniform(0.02, 0.85) * out.height)
    draw.text(
        (out.width // 20, y),
        text,
        font=_font(size),
        fill="white",
        stroke_width=3,
        stroke_fill="black",
    )
    return out


def emoji(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Three to six round 'emoji' stickers (faces) scattered over the picture."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    for _ in range(int(rng.integers(3, 7))):
        r = int(out.width * rng.uniform(0.04, 0.09))
        x, y = int(rng.uniform(r, out.width - r)), int(rng.uniform(r, out.height - r))
        draw.ellipse(
            (x - r, y - r, x + r, y + r),
            fill=(255, 204, 50),
            outline=(120, 80, 0),
            width=max(1, r // 10),
        )
        e = max(1, r // 5)
        for ex in (x - r // 3, x + r // 3):
            draw.ellipse((ex - e // 2, y - r // 3 - e, ex + e // 2, y - r // 3 + e), fill="black")
        draw.arc(
            (x - r // 2, y - r // 3, x + r // 2, y + r // 2),
            20,
            160,
            fill="black",
            width=max(1, r // 8),
        )
    return out


def watermark(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A semi-transparent tiled text watermark across the whole picture."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, base.width // 16)
    alpha = int(rng.integers(60, 110))
    name = "@" + "".join(chr(int(c)) for c in rng.integers(97, 123, 8))
    for y in range(0, base.height, size * 3):
        for x in range(-size * 4, base.width, size * 8):
            draw.text(
                (x + (y // 3) % (size * 4), y), name, font=_font(size), fill=(255, 255, 255, alpha)
            )
    return Image.alpha_composite(base, layer).convert("RGB")


def border(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    pad = int(max(image.size) * rng.uniform(0.08, 0.25))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    pad_edit = A.Pad(padding=pad, fill=colour, border_mode=0, p=1)
    return _album(pad_edit)(image, rng)


def meme(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Classic meme layout: the picture on a white canvas with a caption bar above."""
    width = image.width
    bar = int(image.height * rng.uniform(0.2, 0.4))
    canvas = Image.new("RGB", (width + width // 10, image.height + bar + width // 20), "white")
    canvas.paste(image, (width // 20, bar))
    draw = ImageDraw.Draw(canvas)
    text = _CAPTIONS[int(rng.integers(0, len(_CAPTIONS)))]
    draw.text((width // 20, bar // 4), text, font=_font(max(14, width // 18)), fill="black")
    return canvas


def screenshot(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The picture inside a phone app screenshot: status bar, header, text, buttons."""
    canvas = Image.new("RGB", (1080, 2160), (255, 255, 255) if rng.random() < 0.5 else (21, 32, 43))
    ink = (20, 20, 20) if canvas.getpixel((0, 0))[0] > 128 else (230, 230, 230)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 1080, 90), fill=(0, 0, 0))
    draw.ellipse((40, 140, 150, 250), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw.text((180, 160), "artlover_" + str(rng.integers(100, 999)), font=_font(40), fill=ink)
    draw.text((60, 300), _CAPTIONS[int(rng.integers(0, len(_CAPTIONS)))], font=_font(38), fill=ink)
    shown_width = int(1080 * rng.uniform(0.6, 1.0))
    shown = image.resize((shown_width, max(1, int(image.height * shown_width / image.width))))
    top = 380
    canvas.paste(shown, ((1080 - shown_width) // 2, top))
    y = top + shown.height + 40
    for label in ("Like 1.2k", "Comment 87", "Share"):
        draw.text(
            (60 + 330 * ("Like 1.2k", "Comment 87", "Share").index(label), y),
            label,
            font=_font(34),
            fill=ink,
        )
    return canvas


FAMILIES: dict[str, Edit] = {
    "resize": _resize,
    "jpeg20-50": _album(A.ImageCompression(quality_range=(20, 50), p=1)),
    "crop10": _crop(0.10),
    "crop25": _crop(0.25),
    "crop40": _crop(0.40),
    "hflip": _album(A.HorizontalFlip(p=1)),
    "rotate5": _album(A.Rotate(limit=(-5, 5), border_mode=0, fill=255, p=1)),
    "rotate90": _rotate90,
    "brightness": _album(A.RandomBrightnessContrast((-0.3, 0.3), (-0.3, 0.3), p=1)),
    "saturation": _album(A.HueSaturationValue(10, (-50, 50), 0, p=1)),
    "grayscale": _album(A.ToGray(p=1)),
    "blur": _album(A.GaussianBlur(blur_limit=(5, 9), p=1)),
    "text": caption,
    "emoji": emoji,
    "watermark": watermark,
    "border": border,
    "meme": meme,
    "screenshot": screenshot,
}

_SIMPLE = [
    "resize",
    "jpeg20-50",
    "crop25",
    "hflip",
    "rotate5",
    "brightness",
    "blur",
    "text",
    "border",
    "watermark",
    "saturation",
]


def combination(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Two different edits in a row, drawn at random from the common ones."""
    first, second = rng.choice(_SIMPLE, 2, replace=False)
    return FAMILIES[str(second)](FAMILIES[str(first)](image, rng), rng)


FAMILIES["combo2"] = combination


def _crop_scale_jpeg(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A 15-25 % crop per side, downscaled to 30-50 %, then JPEG 40-70."""
    cropped = _crop(float(rng.uniform(0.15, 0.25)))(image, rng)
    small = cropped
    scale = rng.uniform(0.3, 0.5)
    size = (max(32, int(small.width * scale)), max(32, int(small.height * scale)))
    small = small.resize(size, Image.Resampling.BILINEAR)
    return _album(A.ImageCompression(quality_range=(40, 70), p=1))(small, rng)


def _rotate15(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    angle = float(rng.uniform(10, 15)) * (1 if rng.random() < 0.5 else -1)
    return image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor="white")


# Imported late: scenes and redraws need nothing from this module, and this keeps one
# FAMILIES table for every benchmark.
from benchmarks.redraws import REDRAWS  # noqa: E402
from benchmarks.scenes import app_screenshot, grid3x3, on_photo, side_by_side  # noqa: E402

FAMILIES.update(
    {
        "rotate15": _rotate15,
        "crop_scale_jpeg": _crop_scale_jpeg,
        "app_screenshot": app_screenshot,
        "on_photo": on_photo,
        "side_by_side": side_by_side,
        "grid3x3": grid3x3,
        **REDRAWS,
    }
)
# Re-draws are expected as ``derivative`` matches and reported apart from the copies.
DERIVATIVES = frozenset(REDRAWS)


def _reencode(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image  # saved as JPEG by the benchmark like every query


def _low_resize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = rng.uniform(0.4, 0.8)
    return image.resize((int(image.width * scale), int(image.height * scale)))


# Low-detail works are queried only as reposts: the very file, re-encoded, resized.
LOW_DETAIL_FAMILIES: dict[str, Edit | None] = {
    "low_same_file": None,  # the enrolled bytes themselves
    "low_reencode": _reencode,
    "low_resize": _low_resize,
}
