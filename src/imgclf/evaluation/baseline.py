"""A classical baseline for context: a scikit-learn classifier on raw pixels, fitted on the
train split and scored on the test split, as in the Fashion-MNIST paper's benchmark table.

Its memory is bounded whatever the split sizes:

- it fits on a stratified sample of at most ``evaluate.baseline_max_images`` train images
  (every class keeps its share; a split that small is used whole, in its own order);
- it sees the pixels average-pooled to at most :data:`MAX_SIDE` px a side: blocks of
  ``factor = ceil(side / 32)`` pixels a side are averaged (the last ``side % factor`` rows
  and columns are dropped), so 224 px photos become 32 px, 100 px become 25 px, and images
  of 32 px or less (the 8 px digits, the 28 px Fashion-MNIST) are used as they are;
- images are read, pooled and predicted a block of about 16 MiB of pixels at a time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from imgclf.data.split_reader import ImageArray
from imgclf.data.store import images_per_chunk

BaselineKind = Literal["svc", "logistic"]
SVC_COMFORTABLE_TRAIN = 20_000  # an RBF SVC's fit time grows about quadratically beyond this
MAX_SIDE = 32  # the side of the pixels the baseline sees, at most

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineResult:
    """The baseline's label of each test image, and what it was fitted on."""

    predictions: np.ndarray
    train_images: int  # how many train images it was fitted on
    image_size: int  # the side of the (pooled) pixels it saw


def build_baseline(kind: BaselineKind, seed: int) -> ClassifierMixin:
    """An RBF SVC (strong on small sets such as the digits, quadratic in their size) or a
    multinomial logistic regression (for tens of thousands of images)."""
    if kind == "svc":
        return SVC(C=10.0, gamma="scale", random_state=seed)
    return LogisticRegression(C=0.1, max_iter=300, random_state=seed)


def baseline_predictions(
    train_images: ImageArray,
    train_labels: np.ndarray,
    test_images: ImageArray,
    kind: BaselineKind = "svc",
    seed: int = 0,
    *,
    max_images: int,
) -> BaselineResult:
    """Fit the baseline on a stratified sample of at most ``max_images`` train images
    (uint8, pooled to at most 32 px, scaled to 0..1); return its predicted labels of the
    test images (paired with the model's image by image) and what it used."""
    sample = stratified_sample(np.asarray(train_labels), max_images, seed)
    if kind == "svc" and len(sample) > SVC_COMFORTABLE_TRAIN:
        log.warning(
            "baseline: an SVC on %d images takes long; evaluate.baseline_model: logistic "
            "scales linearly, evaluate.baseline_max_images bounds the sample",
            len(sample),
        )
    factor = pooling_factor(max(train_images.shape[1:3]))
    image_size = train_images.shape[1] // factor
    log.info("baseline: %s on %d of %d train images at %d px", kind, len(sample),
             len(train_labels), image_size)  # fmt: skip
    model = build_baseline(kind, seed)
    model.fit(_features(train_images, sample, factor), np.asarray(train_labels)[sample])
    every_test_image = np.arange(len(test_images))
    block = images_per_chunk(test_images.shape[1:])
    predicted = [
        model.predict(_features(test_images, every_test_image[start : start + block], factor))
        for start in range(0, len(test_images), block)
    ]
    return BaselineResult(
        np.asarray(np.concatenate(predicted), dtype=np.int64), len(sample), image_size
    )


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Ascending positions of at most ``size`` of ``labels``, each class keeping its share
    (largest remainders; every class at least one image when ``size`` allows), drawn by a
    generator seeded with ``seed``. With ``size`` or fewer labels: every position, in order."""
    if len(labels) <= size:
        return np.arange(len(labels))
    counts = np.bincount(labels)
    # Integer shares, so the quotas add up to ``size`` exactly.
    quota, remainder = np.divmod(counts * size, len(labels))
    quota[np.argsort(-remainder, kind="stable")[: size - quota.sum()]] += 1
    if size >= np.count_nonzero(counts):
        for label in np.flatnonzero((counts > 0) & (quota == 0)):
            quota[np.argmax(quota)] -= 1
            quota[label] = 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == label), quota[label], replace=False)
        for label in np.flatnonzero(quota)
    ]
    return np.sort(np.concatenate(chosen))


def pooling_factor(side: int) -> int:
    """The integer block side that average-pooling uses to bring ``side`` px to at most
    :data:`MAX_SIDE` (1: the images are small enough as they are)."""
    return max(1, math.ceil(side / MAX_SIDE))


def _features(images: ImageArray, positions: np.ndarray, factor: int) -> np.ndarray:
    """The flattened, pooled, 0..1 float32 pixels of ``images[positions]`` (one row each),
    read a block of about 16 MiB of images at a time."""
    block = images_per_chunk(images.shape[1:])
    out: np.ndarray | None = None
    for start in range(0, len(positions), block):
        rows = _pooled_flat(images[positions[start : start + block]], factor)
        if out is None:
            out = np.empty((len(positions), rows.shape[1]), dtype=np.float32)
        out[start : start + len(rows)] = rows
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


def _pooled_flat(images: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0
    height, width = images.shape[1] // factor, images.shape[2] // factor
    cropped = images[:, : height * factor, : width * factor]
    blocks = cropped.reshape(len(images), height, factor, width, factor, *images.shape[3:])
    pooled = blocks.mean(axis=(2, 4), dtype=np.float32)
    return pooled.reshape(len(images), -1) / 255.0
