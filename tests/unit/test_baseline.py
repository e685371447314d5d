"""The scikit-learn baseline in bounded memory: a stratified sample of at most
``evaluate.baseline_max_images`` train images, pixels pooled to at most 32 px, the store read
a block at a time, and metrics.json saying what it used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.config import EvaluateConfig
from imgclf.data.split_reader import LabelledImages
from imgclf.data.store import ImageStore, ShardWriter, StoreImages
from imgclf.evaluation import baseline
from imgclf.evaluation.baseline import baseline_predictions, pooling_factor, stratified_sample
from imgclf.evaluation.scoring import evaluate_model
from tests.support.tiny_classifier import class_image, tiny_classifier


class RecordingModel:
    """Stands in for the scikit-learn model: keeps what it was fitted on, predicts class 0."""

    def fit(self, features: np.ndarray, labels: np.ndarray) -> RecordingModel:
        self.features, self.labels = features, labels
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.zeros(len(features), dtype=np.int64)


@pytest.fixture
def recorded(monkeypatch) -> RecordingModel:
    model = RecordingModel()
    monkeypatch.setattr(baseline, "build_baseline", lambda kind, seed: model)
    return model


def _store_images(folder: Path, images: np.ndarray) -> StoreImages:
    writer = ShardWriter(folder, images.shape[1:], shard_bytes=7 * images[0].nbytes)
    shards, offsets = zip(*[writer.add(image) for image in images], strict=True)
    writer.close()
    return StoreImages(ImageStore(folder), shards, offsets)


def test_baseline_fits_on_a_stratified_sample_of_at_most_baseline_max_images(recorded):
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    images = np.arange(100, dtype=np.uint8).repeat(16).reshape(100, 4, 4)  # image i is all i
    result = baseline_predictions(images, labels, images[:3], "svc", 7, max_images=20)
    assert result.train_images == 20 and len(recorded.labels) == 20
    assert np.bincount(recorded.labels).tolist() == [12, 6, 2]  # each class keeps its share
    positions = np.rint(recorded.features[:, 0] * 255).astype(int)
    assert np.all(np.diff(positions) > 0)  # in the split's order
    assert np.array_equal(labels[positions], recorded.labels)
    assert np.array_equal(stratified_sample(labels, 20, 7), positions)  # seeded: reproducible
    assert not np.array_equal(stratified_sample(labels, 20, 8), positions)


def test_every_class_keeps_an_image_and_the_sample_never_exceeds_the_limit():
    labels = np.repeat([0, 1, 2], [97, 2, 1])
    sample = stratified_sample(labels, 10, 0)
    assert len(sample) == 10 and np.bincount(labels[sample]).tolist() == [8, 1, 1]
    assert len(stratified_sample(labels, 2, 0)) == 2


def test_a_split_within_the_limit_is_fitted_whole_in_its_own_order(recorded):
    labels = np.array([2, 0, 1, 0, 2, 1])
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    result = baseline_predictions(images, labels, images, "svc", 0, max_images=6)
    assert (result.train_images, result.image_size) == (6, 8)
    assert np.array_equal(recorded.labels, labels)
    assert np.array_equal(recorded.features, images.reshape(6, -1).astype(np.float32) / 255.0)


def test_baseline_downscales_large_images_to_32_px(recorded):
    assert [pooling_factor(side) for side in (8, 28, 32, 33, 100, 224)] == [1, 1, 1, 2, 4, 7]
    images = np.zeros((2, 96, 96, 3), dtype=np.uint8)
    images[1, :3, :3] = [255, 0, 51]  # one 3x3 block of the 3x pooling
    result = baseline_predictions(images, np.array([0, 1]), images, "logistic", 0, max_images=9)
    assert result.image_size == 32
    assert recorded.features.shape == (2, 32 * 32 * 3)
    assert recorded.features[1, :3].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert recorded.features[1, 3:].max() == 0


def test_baseline_reads_the_store_a_block_at_a_time(recorded, tmp_path, monkeypatch):
    reads: list[int] = []
    gather = StoreImages._gather

    def counted(self, positions):  # type: ignore[no-untyped-def]
        reads.append(len(positions))
        return gather(self, positions)

    monkeypatch.setattr(StoreImages, "_gather", counted)
    monkeypatch.setattr(baseline, "images_per_chunk", lambda shape: 4)
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 15)
    view = _store_images(tmp_path, rng.integers(0, 256, (30, 8, 8), dtype=np.uint8))
    reads.clear()
    result = baseline_predictions(view, labels, view, "svc", 0, max_images=10)
    assert result.train_images == 10 and len(result.predictions) == 30
    assert max(reads) == 4 and sum(reads) == 10 + 30


def test_metrics_record_what_the_baseline_used():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 8)
    images = np.stack([class_image(label, rng) for label in labels])
    split = LabelledImages(images, labels)
    cfg = EvaluateConfig(baseline_max_images=12)
    evaluation = evaluate_model(tiny_classifier(), split, cfg, train=split, seed=0)
    metrics = evaluation.metrics
    assert metrics["baseline_train_images"] == 12.0 and metrics["baseline_image_size"] == 8.0
    assert isinstance(metrics["baseline_train_images"], float)  # metrics.json and MLflow alike
    assert 0 <= metrics["baseline_accuracy"] <= 1
