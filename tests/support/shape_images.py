"""A colour image folder of simple shapes that raw pixels cannot separate but a CNN can.

Four classes (circle, square, triangle, cross), each shape drawn at a random position, size
and tilt, in a random colour on a darker random background colour, with light noise. The
class lives in the outline alone: no pixel, colour or position says which shape it is, so a
classifier on raw pixels (the SVC baseline: about 0.4 at 32 px) stays well below a
convolutional network.
Canvases have mixed sizes and aspect ratios; files alternate JPEG and PNG, and some PNGs are
RGBA with a transparent background or palette images. Seeded and deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")
# The angle of a polygon's first corner (or a cross's first arm) that stands the shape upright:
# a square on its side, a triangle on its base, a cross as a plus. Images tilt by up to
# MAX_TILT degrees from it; any rotation would make a square and a triangle hard to tell apart
# from a few hundred images.
UPRIGHT = {"circle": 0.0, "square": math.pi / 4, "triangle": -math.pi / 2, "cross": 0.0}
MAX_TILT = 20.0
MIN_CONTRAST = 120  # how much brighter than its background a shape is, summed over R, G and B


def write_shape_folder(
    root: Path, per_class: int = 80, sizes: tuple[int, int] = (24, 64), seed: int = 0
) -> Path:
    """Write ``root/<shape>/<index>.{jpg,png}``: ``per_class`` images of each shape, each side
    drawn from ``sizes`` (inclusive). Returns ``root``."""
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width, height = (int(side) for side in rng.integers(sizes[0], sizes[1] + 1, size=2))
            image = draw_shape(shape, width, height, rng)
            save_in_a_mixed_format(image, root / shape / f"{index:03d}", index, rng)
    return root


def draw_shape(shape: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """One RGB picture of ``shape`` on a ``width`` x ``height`` canvas."""
    foreground, background = contrasting_colours(rng)
    image = Image.new("RGB", (width, height), background)
    radius = float(rng.uniform(0.25, 0.45)) * min(width, height)
    centre_x = float(rng.uniform(radius, width - radius))
    centre_y = float(rng.uniform(radius, height - radius))
    angle = UPRIGHT[shape] + math.radians(float(rng.uniform(-MAX_TILT, MAX_TILT)))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        box = (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        draw.ellipse(box, fill=foreground)
    elif shape == "square":
        draw.polygon(regular_polygon(centre_x, centre_y, radius, 4, angle), fill=foreground)
    elif shape == "triangle":
        draw.polygon(regular_polygon(centre_x, centre_y, radius, 3, angle), fill=foreground)
    else:
        for arm in (angle, angle + math.pi / 2):
            start = (centre_x - radius * math.cos(arm), centre_y - radius * math.sin(arm))
            end = (centre_x + radius * math.cos(arm), centre_y + radius * math.sin(arm))
            draw.line([start, end], fill=foreground, width=max(2, round(radius / 3)))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, 6.0, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def regular_polygon(
    x: float, y: float, radius: float, corners: int, angle: float
) -> list[tuple[float, float]]:
    step = 2.0 * math.pi / corners
    return [
        (x + radius * math.cos(angle + k * step), y + radius * math.sin(angle + k * step))
        for k in range(corners)
    ]


def contrasting_colours(
    rng: np.random.Generator,
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A random shape colour and a darker random background colour, far enough apart to see."""
    while True:
        foreground, background = rng.integers(100, 256, size=3), rng.integers(0, 156, size=3)
        if int(foreground.sum()) - int(background.sum()) >= MIN_CONTRAST:
            return _rgb(foreground), _rgb(background)


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    return int(colour[0]), int(colour[1]), int(colour[2])


def save_in_a_mixed_format(
    image: Image.Image, stem: Path, index: int, rng: np.random.Generator
) -> None:
    """Even indices as JPEG; odd ones as PNG, every third of those RGBA with the background
    made transparent (ingest flattens it onto white) and every third a palette image."""
    if index % 2 == 0:
        image.save(stem.with_suffix(".jpg"), format="JPEG", quality=int(rng.integers(75, 96)))
        return
    kind = index // 2 % 3
    if kind == 1:
        pixels = np.asarray(image)
        corner = pixels[0, 0].astype(np.int16)
        # Transparent where the colour is close to the top-left (background) pixel.
        alpha = np.where(np.abs(pixels.astype(np.int16) - corner).sum(axis=2) < 60, 0, 255)
        image = Image.fromarray(np.dstack([pixels, alpha.astype(np.uint8)]))
    elif kind == 2:
        image = image.quantize(colors=64)
    image.save(stem.with_suffix(".png"), format="PNG")
