"""load_image: every user image becomes the canonical array, every bad one a clear reason."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin

from imgclf.data.images import (
    BadImageError,
    NotAnImageError,
    decode_image,
    encode_png,
    load_image,
    pixel_sha256,
)
from imgclf.errors import DataError
from tests.unit.conftest import bomb_png, save_image


def load(path: Path, channels: int = 1, size: int = 16, resize: str = "stretch") -> np.ndarray:
    return load_image(path, channels, size, resize, max_pixels=1_000_000)  # type: ignore[arg-type]


def test_bad_image_error_is_a_user_error() -> None:
    assert issubclass(BadImageError, DataError)
    assert issubclass(NotAnImageError, BadImageError)


def test_canonical_shapes_follow_channels_and_size(odd_images: dict[str, Path]) -> None:
    for path in odd_images.values():
        assert load(path, channels=1, size=8).shape == (8, 8)
        rgb = load(path, channels=3, size=8)
        assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8


def test_sixteen_bit_images_are_scaled_not_clipped(odd_images: dict[str, Path]) -> None:
    pixels = load(odd_images["sixteen_bit"])
    assert pixels.min() == 0 and pixels.max() == 255
    assert len(np.unique(pixels)) > 200  # a ramp, not a wall of 255s


def test_transparent_pixels_are_flattened_onto_white(odd_images: dict[str, Path]) -> None:
    assert (load(odd_images["rgba"], channels=3) == 255).all()


def test_cmyk_and_palette_images_keep_their_colours(odd_images: dict[str, Path]) -> None:
    assert abs(int(load(odd_images["palette"]).mean()) - 50) <= 2
    assert load(odd_images["cmyk"], channels=3).std() < 5  # a flat colour stays flat


def test_unicode_names_and_upper_case_extensions_load(odd_images: dict[str, Path]) -> None:
    assert (load(odd_images["unicode"]) == 7).all()
    assert load(odd_images["upper_case"], channels=3).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("zero_byte", "empty file"),
        ("truncated", "truncated"),
        ("not_an_image", "not an allowed image"),
        ("random_bytes", "not an allowed image"),
        ("bomb", "decompression bomb"),
        ("eps", "not an allowed image"),
    ],
)
def test_each_bad_input_raises_its_reason(
    kind: str, reason: str, image_folder: Path, add_bad_inputs
) -> None:
    path = add_bad_inputs(image_folder)[kind]
    with pytest.raises(BadImageError, match=reason):
        load(path)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (2_000, 1_000)])
def test_bombs_are_rejected_from_the_header_fast(tmp_path: Path, width: int, height: int) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(width, height))
    start = time.perf_counter()
    with pytest.raises(BadImageError, match="decompression bomb"):
        load(bomb)  # limit: 1,000,000 pixels
    assert time.perf_counter() - start < 0.5


def test_eps_is_never_handed_to_ghostscript(
    image_folder: Path, add_bad_inputs, monkeypatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("EPS plugin must never be used")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", forbidden)
    with pytest.raises(NotAnImageError):
        load(add_bad_inputs(image_folder)["eps"])


@pytest.mark.parametrize("resize", ["stretch", "pad", "crop"])
def test_every_resize_policy_gives_a_square(tmp_path: Path, resize: str) -> None:
    wide = save_image(tmp_path / "wide.png", np.full((10, 40, 3), 200, np.uint8))
    pixels = load(wide, channels=3, size=8, resize=resize)
    assert pixels.shape == (8, 8, 3)
    if resize == "pad":
        assert pixels[0].max() == 0  # letterbox bars are black
    else:
        assert pixels.min() > 190


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3)])
def test_a_canonical_image_loads_back_unchanged(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pixels = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)  # RGB: channels differ
    path = tmp_path / "canonical.png"
    path.write_bytes(encode_png(pixels))
    assert np.array_equal(load(path, size=8, channels=shape[2] if len(shape) == 3 else 1), pixels)


def test_same_pixels_same_hash_whatever_the_file() -> None:
    pixels = np.full((8, 8), 3, np.uint8)
    assert pixel_sha256(pixels) == pixel_sha256(pixels.copy())
    assert pixel_sha256(pixels) != pixel_sha256(pixels.reshape(4, 16))


def test_a_folder_or_missing_file_is_a_bad_image_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(BadImageError, match="cannot read file"):
        load(tmp_path)
    with pytest.raises(BadImageError, match="cannot read file"):
        load(tmp_path / "missing.png")


def test_decoding_bytes_equals_loading_the_file(odd_images: dict[str, Path]) -> None:
    path = odd_images["upper_case"]
    from_bytes = decode_image(path.read_bytes(), 3, 16, "stretch", 1_000_000)
    assert np.array_equal(from_bytes, load(path, channels=3))


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_files_cut_short_near_the_end_are_caught_by_the_full_decode(
    tmp_path: Path, format: str
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = save_image(tmp_path / f"whole.{format.lower()}", noise, format=format)
    cut = tmp_path / f"cut.{format.lower()}"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.9)])
    assert load(whole, channels=3).shape == (16, 16, 3)
    with pytest.raises(BadImageError, match="truncated"):
        load(cut, channels=3)
