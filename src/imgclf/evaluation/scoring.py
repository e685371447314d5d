"""Scoring the trained model on the test split, once.

:func:`evaluate_model` returns one :class:`Evaluation` (the flat metrics dict, the per-class
table, the probabilities); the evaluate stage writes every declared file from it
(:mod:`imgclf.evaluation.outputs`) and logs the same dict to MLflow
(:mod:`imgclf.evaluation.publish`), so ``metrics.json`` and MLflow never disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.config import EvaluateConfig
from imgclf.data.split_reader import LabelledImages
from imgclf.errors import ParamError
from imgclf.evaluation.baseline import baseline_predictions
from imgclf.evaluation.metrics import METRIC_NAMES, classification_metrics, per_class_table
from imgclf.evaluation.onnx_check import onnx_max_abs_diff, parity_bound
from imgclf.evaluation.significance import headline_intervals
from imgclf.serving.classifier import InferenceClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    per_class: pd.DataFrame
    probabilities: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    baseline_predictions: np.ndarray | None = None  # the baseline's label of each test image
    ece_bins: int = 15  # the confidence bins of ``ece`` (and of the reliability diagram)


def check_promote_metric(cfg: EvaluateConfig) -> None:
    """Raise ParamError unless ``evaluate.promote_metric`` names a metric that both the new
    model and the champion can be scored on, image by image."""
    allowed = [name for name in METRIC_NAMES if name != "n_test"]
    if cfg.promote_metric not in allowed:
        raise ParamError(
            f"evaluate.promote_metric = {cfg.promote_metric!r}: expected one of "
            f"{', '.join(allowed)}"
        )


def evaluate_model(
    classifier: InferenceClassifier,
    test: LabelledImages,
    cfg: EvaluateConfig,
    onnx_path: str | Path | None = None,
    train: LabelledImages | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score ``classifier`` on ``test``: metrics with their intervals, per-class table, the
    ONNX parity bound (``onnx_max_abs_diff``, a power of ten; OnnxParityError beyond
    tolerance) and, with ``train``, the baseline's accuracy, its paired difference to the
    model and what it was fitted on (``baseline_train_images``, ``baseline_image_size``).
    The images are read a batch at a time; only per-image results are held."""
    probs = classifier.probabilities(test.images)
    predicted = probs.argmax(axis=1)
    metrics = classification_metrics(test.labels, probs, ece_bins=cfg.ece_bins)
    if onnx_path is not None:
        exact = onnx_max_abs_diff(classifier, onnx_path, test.images)
        metrics["onnx_max_abs_diff"] = parity_bound(exact)
    baseline = None
    if train is not None:
        fitted = baseline_predictions(
            train.images,
            train.labels,
            test.images,
            cfg.baseline_model,
            seed,
            max_images=cfg.baseline_max_images,
        )
        baseline = fitted.predictions
        metrics["baseline_accuracy"] = float(np.mean(baseline == test.labels))
        # What the baseline used, beside its figure: a sample and pooled pixels on big data.
        metrics["baseline_train_images"] = float(fitted.train_images)
        metrics["baseline_image_size"] = float(fitted.image_size)
    n_classes = len(classifier.class_names)
    metrics |= headline_intervals(test.labels, predicted, n_classes, baseline)
    per_class = per_class_table(test.labels, predicted, classifier.class_names)
    return Evaluation(
        metrics, per_class, probs, test.labels, classifier.class_names, baseline, cfg.ece_bins
    )
