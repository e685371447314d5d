"""A classical baseline for context: a scikit-learn classifier on raw pixels, fitted on the
train split and scored on the test split, as in the Fashion-MNIST paper's benchmark table."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

BaselineKind = Literal["svc", "logistic"]
SVC_COMFORTABLE_TRAIN = 20_000  # an RBF SVC's fit time grows about quadratically beyond this

log = logging.getLogger(__name__)


def build_baseline(kind: BaselineKind, seed: int) -> ClassifierMixin:
    """An RBF SVC (strong on small sets such as the digits, quadratic in their size) or a
    multinomial logistic regression (for tens of thousands of images)."""
    if kind == "svc":
        return SVC(C=10.0, gamma="scale", random_state=seed)
    return LogisticRegression(C=0.1, max_iter=300, random_state=seed)


def baseline_predictions(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    kind: BaselineKind = "svc",
    seed: int = 0,
) -> np.ndarray:
    """Fit the baseline on the flattened uint8 train images scaled to 0..1; return its
    predicted labels of the test images (paired with the model's image by image)."""
    if kind == "svc" and len(train_labels) > SVC_COMFORTABLE_TRAIN:
        log.warning(
            "baseline: an SVC on %d images takes long; evaluate.baseline_model: logistic "
            "scales linearly",
            len(train_labels),
        )
    model = build_baseline(kind, seed)
    model.fit(_flat(train_images), train_labels)
    return np.asarray(model.predict(_flat(test_images)), dtype=np.int64)


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0
