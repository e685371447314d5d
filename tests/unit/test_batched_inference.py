"""Model probabilities, the ONNX parity check and the misclassified gallery read a split's
images a batch at a time (or only the images they show), with the same results as one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.data.store import ImageStore, ShardWriter, StoreImages
from imgclf.evaluation.plots import save_misclassified_grid
from imgclf.models import inference
from imgclf.models.inference import inference_batch_size, torch_probabilities
from imgclf.serving.onnx_export import check_onnx_parity, export_onnx
from tests.support.tiny_classifier import tiny_classifier


class CountingStoreImages(StoreImages):
    """A store view that records how many images each read returned."""

    reads: list[int]

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        images = super().__getitem__(index)
        self.reads.append(1 if images.ndim == len(self.image_shape) else len(images))
        return images


def store_images(folder: Path, images: np.ndarray) -> CountingStoreImages:
    """``images`` written to small shards in ``folder``, read back as a counting view."""
    writer = ShardWriter(folder, images.shape[1:], shard_bytes=10 * images[0].nbytes)
    locations = [writer.add(image) for image in images]
    writer.close()
    shards, offsets = zip(*locations, strict=True)
    view = CountingStoreImages(ImageStore(folder), shards, offsets)
    view.reads = []
    return view


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(45, 8, 8), dtype=np.uint8)


def test_probabilities_in_blocks_equal_one_pass(images, tmp_path, monkeypatch):
    classifier = tiny_classifier()
    one_pass = torch_probabilities(classifier.net, classifier.spec, images)
    view = store_images(tmp_path, images)
    assert np.array_equal(classifier.probabilities(view), one_pass)
    assert np.array_equal(classifier.probabilities(list(images)), one_pass)  # serving's lists
    assert view.reads == [45]  # 45 images of 8x8 px fit in one batch
    # A 16-image batch budget: the store is read (and the net run) 16 images at a time.
    monkeypatch.setattr(inference, "INFERENCE_BATCH_BYTES", 16 * images[0].nbytes)
    view.reads.clear()
    blocked = classifier.probabilities(view)
    assert view.reads == [16, 16, 13]
    assert np.allclose(blocked, one_pass, atol=1e-6)


def test_large_images_run_in_smaller_batches_and_small_ones_as_before():
    assert inference_batch_size(np.zeros((1, 8, 8), np.uint8)) == 512  # the digits
    assert inference_batch_size(np.zeros((1, 28, 28), np.uint8)) == 512  # Fashion-MNIST
    assert inference_batch_size(np.zeros((1, 224, 224, 3), np.uint8)) == 27
    assert inference_batch_size([np.zeros((224, 224, 3), np.uint8)]) == 27
    assert inference_batch_size(np.zeros((0, 224, 224, 3), np.uint8)) == 512


def test_onnx_parity_on_the_store_reads_batches_and_reports_as_one_pass(
    images, tmp_path, monkeypatch
):
    classifier = tiny_classifier()
    path = export_onnx(classifier.net, classifier.spec, tmp_path / "model.onnx")
    whole = check_onnx_parity(classifier.net, classifier.spec, path, images)
    (tmp_path / "store").mkdir()
    view = store_images(tmp_path / "store", images)
    monkeypatch.setattr(inference, "INFERENCE_BATCH_BYTES", 20 * images[0].nbytes)
    blocked = check_onnx_parity(classifier.net, classifier.spec, path, view)
    assert view.reads == [20, 20, 5]
    assert blocked.ok and blocked.n_images == whole.n_images == 45
    assert blocked.labels_equal == whole.labels_equal
    assert blocked.max_abs_diff == pytest.approx(whole.max_abs_diff, abs=1e-6)


def test_misclassified_gallery_reads_only_the_images_it_shows(images, tmp_path):
    view = store_images(tmp_path, images)
    truth = np.zeros(len(images), dtype=np.int64)
    probs = np.tile([0.2, 0.8], (len(images), 1))  # every image wrong
    shown = save_misclassified_grid(view, truth, probs, ("a", "b"), tmp_path / "grid.png", 4)
    assert shown == 4 and sum(view.reads) == 4
    assert (tmp_path / "grid.png").stat().st_size > 0
