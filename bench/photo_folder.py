"""A labelled folder of photo-like pictures whose class is the shape of one object in them.

    .venv/bin/python -m bench.photo_folder photos --images 3000 --size 64
    .venv/bin/python -m bench.photo_folder photos --images 18000 --size 256 --classes 10 --seed 1

Writes ``ROOT/<class>/<index>.{png,jpg}``: RGB, SIZE x SIZE, half PNG and half JPEG in every
class. Each picture is a textured background (a random colour gradient, a few plane waves and
per-pixel noise) with one object on it, at a random position, 40-70% of the frame across,
turned a little, in a random tint that stands out from the background, among smaller shapes
of any class, some of them in front of it. Only the object's outline says the class: no
pixel position or colour does, so a classifier on raw pixels (an RBF SVC) does poorly while a
CNN with global average pooling learns it. Ten shapes; more classes add a stripe or check pattern
inside the shape. Each image is a function of (seed, index) alone, so any number of worker
processes writes the same bytes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

# Coordinates relative to the object: u to the right, v downwards, the object within [-1, 1].
Mask = Callable[[np.ndarray, np.ndarray], np.ndarray]

SHAPES: dict[str, Mask] = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.85,
    "triangle": lambda u, v: (v <= 0.9) & (np.abs(u) <= (v + 1.0) / 1.9 * 0.95),
    "cross": lambda u, v: (
        (np.maximum(np.abs(u), np.abs(v)) <= 1.0) & (np.minimum(np.abs(u), np.abs(v)) <= 0.3)
    ),
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= 0.5**2),
    "star": lambda u, v: np.hypot(u, v) <= 0.55 + 0.45 * np.cos(5.0 * np.arctan2(u, -v)),
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1.0,
    "horizontal-bar": lambda u, v: (np.abs(u) <= 1.0) & (np.abs(v) <= 0.3),
    "vertical-bar": lambda u, v: (np.abs(u) <= 0.3) & (np.abs(v) <= 1.0),
    "half-disc": lambda u, v: (u * u + (v - 0.5) ** 2 <= 1.0) & (v <= 0.5),
}
# Classes beyond the ten shapes: the same shapes with a pattern cut into them (period: a
# fifth of the object, 5+ px at 64 px, so a 3x3 convolution still sees it).
PATTERNS: dict[str, Mask] = {
    "solid": lambda u, v: np.ones_like(u, dtype=bool),
    "hstripes": lambda u, v: np.floor(v * 2.5) % 2 == 0,
    "vstripes": lambda u, v: np.floor(u * 2.5) % 2 == 0,
    "checks": lambda u, v: (np.floor(u * 2.5) + np.floor(v * 2.5)) % 2 == 0,
    "dstripes": lambda u, v: np.floor((u + v) * 2.0) % 2 == 0,
}
# The difficulty was set so that a plain CNN (the reference recipe) learns 3,000
# pictures of 64 px to 0.8-0.85 test accuracy in 20-30 epochs, as it did on a team's photos:
MIN_CONTRAST = 80  # object tint minus background colour, summed over |R|, |G|, |B|
GRADIENT = 50.0  # how far the background colour drifts across the frame, per channel
NOISE = 20.0  # standard deviation of the per-pixel noise, over object and background alike
TEXTURE = 25.0  # amplitude of each of the background's WAVES plane waves, per channel
WAVES = 3
CLUTTER = 3  # smaller shapes of any class, 16-36% of the frame: one behind, two in front
TURN = 25.0  # every shape is turned by up to this many degrees either way
PARALLEL_FROM = 500  # images; fewer are written in this process (a pool costs ~0.1 s to start)


def class_names(classes: int) -> list[str]:
    """``classes`` names: the ten shapes, then each shape with each pattern in turn."""
    limit = len(SHAPES) * len(PATTERNS)
    if not 1 <= classes <= limit:
        raise ValueError(f"classes must be between 1 and {limit}, got {classes}")
    names = []
    for index in range(classes):
        pattern, shape = divmod(index, len(SHAPES))
        shape_name = list(SHAPES)[shape]
        names.append(shape_name if pattern == 0 else f"{shape_name}-{list(PATTERNS)[pattern]}")
    return names


def draw_photo(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``size`` x ``size`` x 3 uint8 picture of class ``label``."""
    pattern, shape = divmod(label, len(SHAPES))
    background = rng.uniform(30.0, 225.0, size=3).astype(np.float32)
    tint = _contrasting_tint(background, rng)
    # Channels first, and a column and a row vector rather than full grids: numpy broadcasts
    # them four times faster than it walks an (H, W, 3) array's short last axis.
    across = np.arange(size, dtype=np.float32)
    drift = (rng.uniform(-1.0, 1.0, size=(2, 3, 1, 1)) * GRADIENT / size).astype(np.float32)
    centred = across - size / 2
    pixels = background[:, None, None] + drift[0] * centred[None, None, :]
    pixels = pixels + drift[1] * centred[None, :, None]
    pixels = pixels + _texture(size, rng)
    clutter = [list(SHAPES.values())[k] for k in rng.integers(0, len(SHAPES), CLUTTER)]
    for mask in clutter[: CLUTTER // 2]:  # behind the object
        _paint(pixels, across, rng.uniform(0.08, 0.18) * size, _contrasting_tint(background, rng),
               mask, rng)  # fmt: skip

    radius = rng.uniform(0.2, 0.35) * size  # half of 40-70% of the frame
    pattern_mask = list(PATTERNS.values())[pattern]
    shape_mask = list(SHAPES.values())[shape]
    _paint(pixels, across, radius, tint, lambda u, v: shape_mask(u, v) & pattern_mask(u, v), rng)
    for mask in clutter[CLUTTER // 2 :]:  # in front of it
        _paint(pixels, across, rng.uniform(0.08, 0.18) * size, _contrasting_tint(background, rng),
               mask, rng)  # fmt: skip
    # Uniform noise with NOISE's standard deviation: a third of the cost of normal noise.
    pixels += (rng.random((3, size, size), dtype=np.float32) - 0.5) * (NOISE * 12**0.5)
    return np.clip(pixels, 0.0, 255.0).astype(np.uint8).transpose(1, 2, 0).copy()


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A few random plane waves per channel: a wood-grain or fabric-like background."""
    across = np.arange(size, dtype=np.float32)
    out = np.zeros((3, size, size), dtype=np.float32)
    for _ in range(WAVES):
        angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        period = rng.uniform(4.0, 16.0) * size / 64
        along = np.cos(angle) * across[None, :] + np.sin(angle) * across[:, None]
        wave = np.cos(along * 2 * np.pi / period + phase)
        out += rng.uniform(-1.0, 1.0, size=3).astype(np.float32)[:, None, None] * wave * TEXTURE
    return out


def _paint(
    pixels: np.ndarray,
    across: np.ndarray,
    radius: float,
    tint: np.ndarray,
    mask: Mask,
    rng: np.random.Generator,
) -> None:
    """Paint ``mask``, scaled to ``radius`` and turned by up to ``TURN`` degrees, at a random
    place that keeps it inside the frame."""
    size = pixels.shape[-1]
    centre_x, centre_y = rng.uniform(radius, size - radius, size=2)
    turn = np.deg2rad(rng.uniform(-TURN, TURN))
    x = ((across - centre_x) / radius)[None, :]
    y = ((across - centre_y) / radius)[:, None]
    u = np.cos(turn) * x + np.sin(turn) * y
    v = -np.sin(turn) * x + np.cos(turn) * y
    pixels[:, mask(u, v)] = tint[:, None]


def _contrasting_tint(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    while True:
        tint = rng.uniform(0.0, 255.0, size=3)
        if np.abs(tint - background).sum() >= MIN_CONTRAST:
            return tint


def image_path(root: Path, names: Sequence[str], index: int, formats: Sequence[str]) -> Path:
    """Where image ``index`` goes: classes round-robin, formats alternating within a class."""
    label, nth = index % len(names), index // len(names)
    return root / names[label] / f"{index:06d}.{formats[nth % len(formats)]}"


def _write_range(job: tuple[Path, int, int, int, int, int, tuple[str, ...]]) -> None:
    root, start, stop, size, classes, seed, formats = job
    names = class_names(classes)
    for index in range(start, stop):
        pixels = draw_photo(index % classes, size, np.random.default_rng([seed, index]))
        path = image_path(root, names, index, formats)
        if path.suffix == ".png":
            # Level 1: the noise barely compresses, and level 6 is several times slower.
            Image.fromarray(pixels).save(path, format="PNG", compress_level=1)
        else:
            Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def write_photo_folder(
    root: Path,
    images: int,
    size: int,
    classes: int = 10,
    seed: int = 0,
    formats: Sequence[str] = ("png", "jpg"),
) -> None:
    """Write ``images`` pictures (classes round-robin) into ``root/<class>/``; from
    ``PARALLEL_FROM`` images on, in one process per available core."""
    if not formats or any(fmt not in ("png", "jpg") for fmt in formats):
        raise ValueError(f"formats must be png and/or jpg, got {list(formats)}")
    for name in class_names(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
    workers = len(os.sched_getaffinity(0)) if images >= PARALLEL_FROM else 1
    chunk = max(1, min(1000, -(-images // (workers * 8))))
    jobs = [
        (root, start, min(start + chunk, images), size, classes, seed, tuple(formats))
        for start in range(0, images, chunk)
    ]
    if workers == 1:
        for job in jobs:
            _write_range(job)
        return
    with Pool(workers) as pool:
        for _ in pool.imap_unordered(_write_range, jobs):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="folder to write <class>/<image> into")
    parser.add_argument("--images", type=int, required=True, help="how many images in all")
    parser.add_argument("--size", type=int, required=True, help="side of every image, in px")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.images < 1 or args.size < 8:
        parser.error("--images must be >= 1 and --size >= 8")
    try:
        class_names(args.classes)
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    write_photo_folder(args.root, args.images, args.size, args.classes, args.seed)
    elapsed = time.perf_counter() - start
    print(
        f"{args.images} images of {args.size} px in {args.classes} classes -> {args.root}: "
        f"{elapsed:.1f} s ({elapsed / args.images * 1000:.2f} ms per image)"
    )


if __name__ == "__main__":
    main()
