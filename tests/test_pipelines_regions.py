"""Region proposals: composite pictures are cut into their pictures, ordinary ones are not."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from artwatch.samples import artwork
from pipelines.engine.regions import RegionDescriptors, proposals


def contains(box, expected, slack: int) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(box, expected, strict=True))


def test_an_artwork_without_seams_gets_no_proposals():
    # Seeds without long straight edges: most samples paint large axis-aligned rectangles
    # and bars, which are cut like a collage's cells (they only cost time).
    for seed in (23, 34, 36):
        assert proposals(np.asarray(artwork(seed, (512, 384)))) == []
    assert RegionDescriptors.from_image(np.asarray(artwork(23, (512, 384)))) == b""


def test_every_cell_of_a_grid_is_proposed():
    canvas = Image.new("RGB", (3 * 160 + 8, 3 * 160 + 8), "white")
    seamless = (22, 23, 25, 27, 28, 32, 33, 34, 36)  # cells with no seams of their own
    for cell, seed in enumerate(seamless):
        canvas.paste(artwork(seed, (160, 160)), ((cell % 3) * 164, (cell // 3) * 164))
    boxes = proposals(np.asarray(canvas))
    for cell in range(9):
        x, y = (cell % 3) * 164, (cell // 3) * 164
        assert any(contains(b, (x, y, x + 160, y + 160), 6) for b in boxes), cell


def test_letterboxed_post_in_a_feed_is_proposed_without_its_bars():
    canvas = Image.new("RGB", (480, 900), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 480, 40), fill=(20, 20, 20))
    draw.text((20, 60), "someone posted this", fill=(0, 0, 0))
    canvas.paste((0, 0, 0), (0, 150, 480, 630))  # the post's black frame
    canvas.paste(artwork(31, (480, 360)), (0, 210))  # letterboxed inside it
    boxes = proposals(np.asarray(canvas))
    assert any(contains(b, (0, 210, 480, 570), 6) for b in boxes), boxes
