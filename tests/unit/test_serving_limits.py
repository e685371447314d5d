"""The served model's limits: too many rows, too many bytes or too many pixels in one image
(file or array) are refused by name before anything is decoded or converted."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest

from imgclf.data.images import encode_png
from imgclf.serving.bundle import CONFIG_FILE, load_limits, save_bundle
from imgclf.serving.limits import LimitExceededError, ServingLimits
from tests.support.tiny_classifier import class_image, tiny_classifier
from tests.unit.conftest import bomb_png


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_default_limits_refuse_a_6000x6000_image_from_its_header() -> None:
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match=r"6000x6000 = 36,000,000 pixels.*max_pixels"):
        tiny_classifier().load_any(b64(bomb_png(6000, 6000)), ServingLimits())
    assert time.perf_counter() - started < 0.1  # the header only: decoding takes seconds


def test_default_limits_refuse_a_1x4000000_pixel_array_before_converting_it() -> None:
    pixels = [[0] * 4_000_000]
    with pytest.raises(LimitExceededError, match=r"4000000x1 = 4,000,000 pixels.*max_pixels"):
        tiny_classifier().load_any(pixels, ServingLimits())


def test_an_image_within_the_limits_is_still_read() -> None:
    pixels = class_image(1, np.random.default_rng(0))
    classifier = tiny_classifier()
    assert np.array_equal(classifier.load_any(b64(encode_png(pixels)), ServingLimits()), pixels)
    assert np.array_equal(classifier.load_any(pixels.tolist(), ServingLimits()), pixels)


def test_too_many_rows_or_bytes_in_one_request_are_refused_by_name() -> None:
    limits = ServingLimits(max_request_bytes=1000, max_rows=3)
    limits.check_request(["x" * 300] * 3)
    with pytest.raises(LimitExceededError, match="4 rows in one request.*max_rows = 3"):
        limits.check_request(["x"] * 4)
    with pytest.raises(LimitExceededError, match="1,200 bytes.*max_request_bytes = 1,000"):
        limits.check_request(["x" * 600, "y" * 600])


def test_the_limits_travel_in_model_json(tmp_path) -> None:
    limits = ServingLimits(max_request_bytes=10, max_rows=2, max_pixels=64)
    save_bundle(tiny_classifier(), tmp_path, limits)
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["limits"]["max_pixels"] == 64
    assert load_limits(tmp_path / CONFIG_FILE) == limits
