"""The evaluate stage's work: score the trained model on the test split, once.

:func:`evaluate_model` returns one :class:`Evaluation` (the flat metrics dict, the per-class
table, the probabilities); :func:`write_outputs` writes every declared file from it. The
stage logs the same dict to MLflow, so ``metrics.json`` and MLflow never disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.atomic import write_csv, write_json
from imgclf.config import EvaluateConfig
from imgclf.data.images import read_image
from imgclf.data.schema import read_split
from imgclf.errors import ConfigError, StaleArtifactError
from imgclf.evaluation import plots
from imgclf.evaluation.baseline import baseline_accuracy
from imgclf.evaluation.metrics import (
    METRIC_NAMES,
    classification_metrics,
    confusion_counts,
    per_class_table,
)
from imgclf.serving.image_classifier import ImageClassifier
from imgclf.serving.onnx_export import OnnxParityError, check_onnx_parity

log = logging.getLogger(__name__)

SVC_COMFORTABLE_TRAIN = 20_000  # an RBF SVC's fit time grows about quadratically beyond this


@dataclass(frozen=True)
class LabelledImages:
    """Canonical uint8 images (N x H x W[ x C]) and their integer labels."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    per_class: pd.DataFrame
    probabilities: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class OutputPaths:
    metrics: Path
    plots: Path
    reports: Path

    @property
    def confusion_png(self) -> Path:
        return self.reports / "confusion_matrix.png"

    @property
    def confusion_normalized_png(self) -> Path:
        return self.reports / "confusion_matrix_normalized.png"

    @property
    def curves_png(self) -> Path:
        return self.reports / "roc_pr_curves.png"

    @property
    def misclassified_png(self) -> Path:
        return self.reports / "misclassified.png"

    @property
    def per_class_csv(self) -> Path:
        return self.reports / "per_class.csv"


def load_split_images(split_csv: str | Path, class_names: Sequence[str]) -> LabelledImages:
    """Read a split's canonical PNGs and map its class names to label indices."""
    frame = read_split(split_csv)
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise StaleArtifactError(
            f"{split_csv}: labels {unknown[:5]} are not in the model's classes; "
            "the model is older than the data: run `dvc repro train`"
        )
    images = [read_image(path) for path in frame["path"]]
    if not images:
        raise StaleArtifactError(f"{split_csv}: no images; run `dvc repro split`")
    return LabelledImages(np.stack(images), frame["label"].map(index).to_numpy(np.int64))


def check_promote_metric(cfg: EvaluateConfig) -> None:
    """Raise ConfigError unless ``evaluate.promote_metric`` names a metric this stage writes."""
    allowed = [*METRIC_NAMES, *(["baseline_accuracy"] if cfg.baseline else [])]
    if cfg.promote_metric not in allowed:
        raise ConfigError(
            f"params.yaml: evaluate.promote_metric = {cfg.promote_metric!r}: expected one of "
            f"{', '.join(allowed)}"
        )


def evaluate_model(
    classifier: ImageClassifier,
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
        report = check_onnx_parity(classifier.net, classifier.spec, onnx_path, test.images)
        log.info(
            "ONNX parity on %d test images: max |dp| = %.2e, labels equal: %s",
            report.n_images,
            report.max_abs_diff,
            report.labels_equal,
        )
        if not report.ok:
            raise OnnxParityError(f"{onnx_path}: {report}")
        metrics["onnx_max_abs_diff"] = report.max_abs_diff
    if train is not None:
        if cfg.baseline_model == "svc" and len(train.labels) > SVC_COMFORTABLE_TRAIN:
            log.warning(
                "baseline: an SVC on %d images takes long; evaluate.baseline_model: logistic "
                "scales linearly",
                len(train.labels),
            )
        metrics["baseline_accuracy"] = baseline_accuracy(
            train.images, train.labels, test.images, test.labels, cfg.baseline_model, seed
        )
    per_class = per_class_table(test.labels, probs.argmax(axis=1), classifier.class_names)
    return Evaluation(metrics, per_class, probs, test.labels, classifier.class_names)


def write_outputs(
    evaluation: Evaluation, test_images: np.ndarray, paths: OutputPaths
) -> list[Path]:
    """Write metrics.json, the DVC plot CSVs and the report PNGs/CSV; return every path."""
    e = evaluation
    write_json(paths.metrics, e.metrics)
    written = plots.write_dvc_plots(
        e.labels, e.probabilities, e.class_names, e.per_class, paths.plots
    )
    write_csv(paths.per_class_csv, e.per_class)
    confusion = confusion_counts(e.labels, e.probabilities.argmax(axis=1), len(e.class_names))
    plots.save_confusion_pngs(
        confusion, e.class_names, paths.confusion_png, paths.confusion_normalized_png
    )
    plots.save_curves_png(e.labels, e.probabilities, e.class_names, paths.curves_png)
    plots.save_misclassified_grid(
        test_images, e.labels, e.probabilities, e.class_names, paths.misclassified_png
    )
    reports = [
        paths.per_class_csv,
        paths.confusion_png,
        paths.confusion_normalized_png,
        paths.curves_png,
        paths.misclassified_png,
    ]
    return [paths.metrics, *written, *reports]
