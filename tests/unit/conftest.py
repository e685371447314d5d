"""Tiny image folders for the data tests, made in ``tmp_path``."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("bird", "cat", "dog")
PER_CLASS = 12


def save_image(
    path: Path, pixels: np.ndarray, format: str = "PNG", mode: str | None = None
) -> Path:
    """Write ``pixels`` (uint8 array) as an image file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    image.save(path, format=format)
    return path


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny valid PNG whose header claims ``width x height`` pixels (default 10 gigapixels)."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr_start = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13]))
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``root/<class>/<n>.png``: 3 classes x 12 distinct 16x16 RGB PNGs."""
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label in CLASSES:
        for index in range(PER_CLASS):
            save_image(
                root / label / f"{index:02d}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            )
    return root


@pytest.fixture
def add_bad_inputs(tmp_path: Path) -> Callable[[Path], dict[str, Path]]:
    """Add one file of each bad-input kind to a folder's ``cat`` class; returns them by kind.

    Bad kinds make ingest fail (or be rejected with ``skip``); the ``ignored`` kinds are
    listed but never count as bad.
    """

    def add(root: Path) -> dict[str, Path]:
        cat = root / "cat"
        good = io.BytesIO()
        Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(good, format="JPEG")
        outside = tmp_path / "outside.png"
        save_image(outside, np.zeros((16, 16), np.uint8))
        files = {
            "zero_byte": cat / "empty.png",
            "truncated": cat / "truncated.jpg",
            "not_an_image": cat / "notes.jpg",
            "random_bytes": cat / "noise.png",
            "bomb": cat / "bomb.png",
            "symlink_outside": cat / "link.png",
            "eps": cat / "vector.eps",
        }
        files["zero_byte"].write_bytes(b"")
        files["truncated"].write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
        files["not_an_image"].write_text("this is a text file, not a JPEG\n")
        files["random_bytes"].write_bytes(np.random.default_rng(1).bytes(2048))
        files["bomb"].write_bytes(bomb_png())
        files["symlink_outside"].symlink_to(outside)
        files["eps"].write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n")
        ignored = {
            "readme": root / "README.md",
            "ds_store": cat / ".DS_Store",
            "text": cat / "labels.txt",
        }
        ignored["readme"].write_text("# my photos\n")
        ignored["ds_store"].write_bytes(b"\0\0\0\1Bud1")
        ignored["text"].write_text("cat\n")
        return {**files, **{f"ignored_{kind}": path for kind, path in ignored.items()}}

    return add


@pytest.fixture
def odd_images(tmp_path: Path) -> dict[str, Path]:
    """Sound images in awkward modes and names: 16-bit, CMYK, palette, RGBA, unicode, .JPG."""
    folder = tmp_path / "odd"
    ramp16 = np.linspace(0, 65535, 16 * 16).astype(np.uint16).reshape(16, 16)
    files = {
        "sixteen_bit": folder / "ramp16.png",
        "cmyk": folder / "cmyk.jpg",
        "palette": folder / "palette.png",
        "rgba": folder / "rgba.png",
        "unicode": folder / "chat_é_猫.png",
        "upper_case": folder / "PHOTO.JPG",
    }
    folder.mkdir(parents=True)
    Image.fromarray(ramp16).save(files["sixteen_bit"])
    save_image(files["cmyk"], np.full((16, 16, 3), 200, np.uint8), format="JPEG", mode="CMYK")
    save_image(files["palette"], np.full((16, 16, 3), 50, np.uint8), mode="P")
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: flattened onto white
    save_image(files["rgba"], rgba)
    save_image(files["unicode"], np.full((16, 16), 7, np.uint8))
    save_image(files["upper_case"], np.full((16, 16, 3), 90, np.uint8), format="JPEG")
    return files
