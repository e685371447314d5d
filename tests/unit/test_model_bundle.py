"""The model bundle the MLflow model is made of: safetensors weights checked by SHA-256."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from imgclf.data.images import BadImageError, encode_png
from imgclf.errors import StaleArtifactError
from imgclf.serving.bundle import CONFIG_FILE, WEIGHTS_FILE, load_bundle, save_bundle
from tests.support.tiny_classifier import class_image, tiny_classifier


@pytest.fixture
def bundle(tmp_path):
    classifier = tiny_classifier()
    sha = save_bundle(classifier, tmp_path)
    return classifier, sha, tmp_path / WEIGHTS_FILE, tmp_path / CONFIG_FILE


def test_reloaded_bundle_predicts_exactly_like_the_original(bundle):
    classifier, sha, weights, config = bundle
    images = [class_image(i % 3, np.random.default_rng(i)) for i in range(6)]
    reloaded = load_bundle(weights, config, sha)
    assert reloaded.spec == classifier.spec and reloaded.settings == classifier.settings
    assert np.array_equal(reloaded.probabilities(images), classifier.probabilities(images))


def test_changed_weights_are_refused_before_loading(bundle):
    _, sha, weights, config = bundle
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(StaleArtifactError, match="SHA-256"):
        load_bundle(weights, config, sha)


def test_base64_file_and_pixel_array_give_the_same_canonical_image(bundle):
    classifier = bundle[0]
    pixels = class_image(1, np.random.default_rng(0))
    from_file = classifier.load_any(base64.b64encode(encode_png(pixels)).decode())
    from_array = classifier.load_any(pixels.tolist())
    assert np.array_equal(from_file, pixels) and np.array_equal(from_array, pixels)


@pytest.mark.parametrize("value", ["not base64!", [[300, 0], [0, 0]], [1, 2, 3], "aGVsbG8="])
def test_bad_inputs_raise_bad_image_error(bundle, value):
    with pytest.raises(BadImageError):
        bundle[0].load_any(value)
