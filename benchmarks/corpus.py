"""Benchmark images: real pictures shipped inside installed packages, plus procedural art.

Real images come from scikit-image's bundled data folder (and scikit-learn's and
matplotlib's sample images when those are installed); nothing is downloaded. Procedural
artworks are generated from a seed in four styles (shapes on a painted ground, layered
landscapes, noise-field abstractions, mosaics), so a seed range is a reproducible,
disjoint set of images: calibration and test splits never share a seed.
"""

from __future__ import annotations

import colorsys
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CACHE = Path(__file__).resolve().parent / ".cache"

# Bundled skimage images that are pictures rather than masks, charts or stacks.
_SKIMAGE = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "page.png",
    "text.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "retina.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "immunohistochemistry.png",
    "cell.png",
    "microaneurysms.png",
    "color.png",
    "logo.png",
)


def real_images() -> dict[str, Image.Image]:
    """Name -> RGB picture, for every bundled real image found offline."""
    found: dict[str, Image.Image] = {}
    for package, folder, names in _sources():
        base = _package_dir(package)
        if base is None:
            continue
        for name in names:
            path = base / folder / name
            if path.is_file():
                with Image.open(path) as image:
                    found[f"{package}:{name}"] = _rgb(image)
    return found


def _sources():
    yield "skimage", "data", _SKIMAGE
    yield "sklearn", "datasets/images", ("china.jpg", "flower.jpg")
    yield (
        "matplotlib",
        "mpl-data/sample_data",
        ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"),
    )


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode in ("I;16", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        values = (values - values.min()) * (255 / max(1e-6, float(np.ptp(values))))
        return Image.fromarray(values.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def procedural(seed: int) -> Image.Image:
    """One generated artwork; the style and size follow from the seed."""
    rng = np.random.default_rng(seed)
    width = int(rng.choice([800, 960, 1024, 1200, 1400]))
    height = int(width * rng.choice([0.6, 0.75, 1.0, 1.25, 1.4]))
    style = (_shapes, _landscape, _noise_field, _mosaic)[seed % 4]
    return style(rng, width, height).filter(ImageFilter.SMOOTH)


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    start, spread = rng.uniform(0, 1), rng.uniform(0.2, 0.9)
    hues = (start + np.linspace(0, spread, n)) % 1.0
    colours = [
        colorsys.hsv_to_rgb(h, rng.uniform(0.35, 0.95), rng.uniform(0.35, 1.0)) for h in hues
    ]
    return (np.array(colours) * 255).astype(np.uint8)


def _fractal_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 5):
    total = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
        layer = Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BICUBIC)
        total += np.asarray(layer) / (1.6**octave)
    return (total - total.min()) / max(1e-6, float(np.ptp(total)))


def _ground(rng, width, height) -> Image.Image:
    colours = _palette(rng, 2).astype(np.float32)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    ground = colours[0] * (1 - t) + colours[1] * t + np.zeros((1, width, 1), np.float32)
    ground += (_fractal_noise(rng, width, height)[..., None] - 0.5) * 60
    return Image.fromarray(np.clip(ground, 0, 255).astype(np.uint8), "RGB")


def _shapes(rng, width, height) -> Image.Image:
    image = _ground(rng, width, height)
    draw = ImageDraw.Draw(image)
    colours = _palette(rng, 6)
    for _ in range(int(rng.integers(12, 30))):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 20, width // 3), rng.integers(height // 20, height // 3)
        fill = tuple(int(c) for c in colours[rng.integers(0, 6)])
        outline = tuple(int(c * 0.4) for c in fill)
        kind = rng.integers(0, 3)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        if kind == 0:
            draw.ellipse(box, fill=fill, outline=outline, width=3)
        elif kind == 1:
            draw.rounded_rectangle(box, radius=int(min(w, h) // 5), fill=fill, outline=outline)
        else:
            pts = rng.integers(0, (width, height), (int(rng.integers(3, 7)), 2))
            draw.polygon([tuple(int(v) for v in p) for p in pts], fill=fill, outline=outline)
    return image


def _landscape(rng, width, height) -> Image.Image:
    image = _ground(rng, width, height)
    draw = ImageDraw.Draw(image)
    sun = int(rng.integers(width // 12, width // 6))
    cx, cy = int(rng.integers(sun, width - sun)), int(rng.integers(sun, height // 2))
    draw.ellipse([cx - sun, cy - sun, cx + sun, cy + sun], fill=(255, 236, 180))
    colours = _palette(rng, 5)
    xs = np.arange(0, width + 8, 8)
    for layer in range(5):
        base = height * (0.35 + 0.13 * layer)
        amp = height * rng.uniform(0.03, 0.12)
        freq, phase = rng.uniform(1.5, 6), rng.uniform(0, 6.3)
        ys = base + amp * np.sin(xs / width * freq * np.pi + phase) + rng.normal(0, 4, xs.shape)
        outline = [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]
        fill = tuple(int(c) for c in colours[layer])
        draw.polygon([*outline, (width, height), (0, height)], fill=fill)
        for _ in range(int(rng.integers(3, 10))):
            tx = int(rng.integers(0, width))
            ty = int(base + rng.uniform(0, height * 0.1))
            size = int(rng.integers(8, 40))
            dark = tuple(int(c * 0.5) for c in fill)
            draw.polygon([(tx, ty - 2 * size), (tx - size, ty), (tx + size, ty)], fill=dark)
    return image


def _noise_field(rng, width, height) -> Image.Image:
    field = _fractal_noise(rng, width, height, octaves=6)
    bands = rng.integers(4, 12)
    stripes = (np.sin(field * bands * np.pi * 2) + 1) / 2
    palette = _palette(rng, 64).astype(np.float32)
    index = np.clip((field * 0.7 + stripes * 0.3) * 63, 0, 63).astype(int)
    pixels = palette[index] * (0.75 + 0.25 * stripes[..., None])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _mosaic(rng, width, height) -> Image.Image:
    n = int(rng.integers(30, 90))
    seeds = rng.uniform(0, 1, (n, 2)) * (width, height)
    step = 4
    gy, gx = np.mgrid[0:height:step, 0:width:step]
    d = (gx[..., None] - seeds[:, 0]) ** 2 + (gy[..., None] - seeds[:, 1]) ** 2
    nearest = d.argmin(axis=2)
    sorted_d = np.sort(d, axis=2)
    edge = np.sqrt(sorted_d[..., 1]) - np.sqrt(sorted_d[..., 0]) < 3
    palette = _palette(rng, n)
    small = palette[nearest]
    small[edge] = (30, 30, 30)
    image = Image.fromarray(small.astype(np.uint8), "RGB").resize((width, height))
    shade = _fractal_noise(rng, width, height)[..., None] * 50 - 25
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + shade, 0, 255).astype(np.uint8))


def filler(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """An unrelated picture for collages, ads and backgrounds, drawn from ``rng`` (never a
    portfolio seed): one of the four styles at the size asked."""
    style = (_shapes, _landscape, _noise_field, _mosaic)[int(rng.integers(0, 4))]
    # Drawn at half size and enlarged: large fillers cost seconds at full size.
    small = style(rng, max(16, width // 2), max(16, height // 2))
    return small.resize((max(16, width), max(16, height))).filter(ImageFilter.SMOOTH)


def low_detail(seed: int) -> Image.Image:
    """A low-detail work: a soft gradient, a minimal wallpaper or a fine repetitive texture,
    the styles that give PDQ too little structure and ORB too few corners."""
    rng = np.random.default_rng(seed)
    width = int(rng.choice([800, 1024, 1200]))
    height = int(width * rng.choice([0.75, 1.0, 1.5]))
    style = (_gradient, _minimal, _fine_texture)[seed % 3]
    return style(rng, width, height)


def _gradient(rng, width, height) -> Image.Image:
    colours = _palette(rng, 3).astype(np.float32)
    angle = rng.uniform(0, np.pi)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = gx / width * np.cos(angle) + gy / height * np.sin(angle)
    t = (t - t.min()) / max(1e-6, float(np.ptp(t)))
    if rng.random() < 0.5:  # radial
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        t = np.hypot(gx - cx, gy - cy) / np.hypot(width, height)
        t = t / t.max()
    t = t[..., None]
    mid = np.clip(1 - np.abs(t - 0.5) * 2, 0, 1)
    bend = colours[1] - 0.5 * (colours[0] + colours[2])  # the middle colour's pull
    pixels = colours[0] * (1 - t) + colours[2] * t + bend * mid
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _minimal(rng, width, height) -> Image.Image:
    colours = _palette(rng, 4)
    image = Image.new("RGB", (width, height), tuple(int(c) for c in colours[0]))
    draw = ImageDraw.Draw(image)
    for k in range(int(rng.integers(1, 4))):
        r = int(min(width, height) * rng.uniform(0.08, 0.3))
        x, y = int(rng.uniform(r, width - r)), int(rng.uniform(r, height - r))
        fill = tuple(int(c) for c in colours[1 + k % 3])
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.rectangle((x - r, y - r // 3, x + r, y + r // 3), fill=fill)
    return image.filter(ImageFilter.GaussianBlur(2))


def _fine_texture(rng, width, height) -> Image.Image:
    colours = _palette(rng, 2).astype(np.float32)
    period = rng.uniform(3, 7)
    angle = rng.uniform(0, np.pi)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin((gx * np.cos(angle) + gy * np.sin(angle)) * 2 * np.pi / period)
    grain = rng.normal(0, 0.25, (height, width)).astype(np.float32)
    t = np.clip((wave + grain + 1) / 2, 0, 1)[..., None]
    pixels = colours[0] * (1 - t) + colours[1] * t
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
