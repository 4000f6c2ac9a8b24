"""The demo's pictures: a small portfolio, the edited copies reposts make of it, and decoys.

Everything comes from ``artwatch.samples.artwork`` with fixed seeds, so every run shows the
same pictures. The edits are the ones ArtWatch exists for: a plain repost, a resize, a crop,
a recolour, a meme caption, a phone screenshot with the artwork inside and a mirror image;
the decoys are other procedural paintings that must not match anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from artwatch.samples import artwork, encode

PORTFOLIO_SEEDS = (101, 102, 103)
DECOY_SEEDS = (901, 902, 903, 904, 905, 906)


@dataclass(frozen=True)
class Picture:
    """One image the demo platform serves: its file name, bytes and what it is."""

    name: str
    data: bytes
    copy_of: int | None  # the portfolio seed it was made from; None for a decoy
    edit: str


def repost(image: Image.Image) -> Image.Image:
    return image.copy()


def resized(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)


def cropped(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.crop((width // 8, height // 10, width - width // 10, height - height // 8))


def recoloured(image: Image.Image) -> Image.Image:
    red, green, blue = image.split()
    warmer = Image.merge("RGB", (red.point(lambda v: min(255, int(v * 1.15))), green,
                                 blue.point(lambda v: int(v * 0.8))))  # fmt: skip
    return ImageEnhance.Contrast(ImageEnhance.Color(warmer).enhance(1.4)).enhance(1.1)


def flipped(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def captioned(image: Image.Image) -> Image.Image:
    band = image.height // 6
    meme = Image.new("RGB", (image.width, image.height + 2 * band), "white")
    meme.paste(image, (0, band))
    draw = ImageDraw.Draw(meme)
    draw.text((20, band // 3), "MY NEW AI ART, NO ARTIST NEEDED", fill="black")
    draw.text((20, image.height + band + band // 3), "prompt: masterpiece, best quality", "black")
    return meme


def screenshot(image: Image.Image) -> Image.Image:
    phone = Image.new("RGB", (720, 1280), (246, 246, 250))
    draw = ImageDraw.Draw(phone)
    draw.rectangle((0, 0, 720, 96), fill=(40, 44, 52))
    draw.ellipse((24, 120, 104, 200), fill=(120, 160, 220))
    for line in range(3):
        draw.rectangle((124, 130 + 24 * line, 600 - 80 * line, 142 + 24 * line), fill=(90, 90, 90))
    inner = image.resize((660, 660 * image.height // image.width), Image.Resampling.BILINEAR)
    phone.paste(inner, (30, 260))
    draw.text((30, 300 + inner.height), "#aiart #stablediffusion", fill=(30, 90, 200))
    return phone


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "repost": repost,
    "resized": resized,
    "cropped": cropped,
    "recoloured": recoloured,
    "captioned": captioned,
    "screenshot": screenshot,
    "flipped": flipped,
}


def portfolio() -> dict[int, bytes]:
    """The demo artist's works: seed -> PNG bytes (what the artist enrolls)."""
    return {seed: encode(artwork(seed), "PNG") for seed in PORTFOLIO_SEEDS}


def pictures() -> list[Picture]:
    """Every image the demo platform posts: one edited copy per edit, then the decoys."""
    found = []
    for number, (edit, apply) in enumerate(EDITS.items()):
        seed = PORTFOLIO_SEEDS[number % len(PORTFOLIO_SEEDS)]
        data = encode(apply(artwork(seed)).convert("RGB"), "JPEG", quality=85)
        found.append(Picture(f"{edit}-{seed}.jpg", data, seed, edit))
    for seed in DECOY_SEEDS:
        data = encode(artwork(seed), "JPEG", quality=85)
        found.append(Picture(f"decoy-{seed}.jpg", data, None, "unrelated"))
    return found
