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
from imgclf.data.split_images import LabelledImages
from imgclf.errors import ParamError
from imgclf.evaluation.baseline import baseline_accuracy
from imgclf.evaluation.metrics import METRIC_NAMES, classification_metrics, per_class_table
from imgclf.evaluation.onnx_check import onnx_max_abs_diff
from imgclf.serving.classifier import InferenceClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    per_class: pd.DataFrame
    probabilities: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


def check_promote_metric(cfg: EvaluateConfig) -> None:
    """Raise ParamError unless ``evaluate.promote_metric`` names a metric this stage writes."""
    allowed = [*METRIC_NAMES, *(["baseline_accuracy"] if cfg.baseline else [])]
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
    """Score ``classifier`` on ``test``: metrics, per-class table, the ONNX parity figure
    (``onnx_max_abs_diff``, raising OnnxParityError beyond tolerance) and, with ``train``,
    the baseline's accuracy."""
    probs = classifier.probabilities(test.images)
    metrics = classification_metrics(test.labels, probs, ece_bins=cfg.ece_bins)
    if onnx_path is not None:
        metrics["onnx_max_abs_diff"] = onnx_max_abs_diff(classifier, onnx_path, test.images)
    if train is not None:
        metrics["baseline_accuracy"] = baseline_accuracy(
            train.images, train.labels, test.images, test.labels, cfg.baseline_model, seed
        )
    per_class = per_class_table(test.labels, probs.argmax(axis=1), classifier.class_names)
    return Evaluation(metrics, per_class, probs, test.labels, classifier.class_names)
