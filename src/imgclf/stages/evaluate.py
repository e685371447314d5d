"""evaluate stage: score the trained model on the test split, write metrics.json, DVC plots
and reports, log everything to MLflow, register the model and score the champion on the
same test images (champion only if the new model is better, and provably so by default)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from mlflow import MlflowClient

from imgclf import numerics
from imgclf.config import Params
from imgclf.data.schema import read_classes, read_split
from imgclf.data.split_reader import load_split_images
from imgclf.errors import StaleArtifactError
from imgclf.evaluation.champion import sit_champion_exam
from imgclf.evaluation.outputs import EvaluationPaths, write_evaluation_outputs
from imgclf.evaluation.publish import publish_evaluation
from imgclf.evaluation.scoring import check_promote_metric, evaluate_model
from imgclf.models.checkpoint import load_classifier
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.image_inputs import ImageSettings
from imgclf.stages.command import base_parser, run_stage, tracked_run

log = logging.getLogger("imgclf.evaluate")


@dataclass(frozen=True)
class EvaluatePaths:
    splits: Path
    images: Path
    classes: Path
    model: Path
    onnx: Path
    manifest: Path | None
    outputs: EvaluationPaths


def run_evaluate(params: Params, paths: EvaluatePaths) -> None:
    """Write every declared output, log them, register the model and judge it."""
    cfg = params.evaluate
    check_promote_metric(cfg)
    numerics.configure_torch()
    loaded = load_classifier(paths.model)
    classes = read_classes(paths.classes)
    if list(loaded.spec.class_names) != classes:
        raise StaleArtifactError(
            f"{paths.model}: trained on other classes than {paths.classes}; run `dvc repro train`"
        )
    classifier = InferenceClassifier(
        loaded.net, loaded.spec, ImageSettings.for_spec(loaded.spec, params.data)
    )
    test_rows = read_split(paths.splits / "test.csv")
    test = load_split_images(test_rows, classes, "test", paths.images)
    train = (
        load_split_images(read_split(paths.splits / "train.csv"), classes, "train", paths.images)
        if cfg.baseline
        else None
    )

    read = ("test", "train") if cfg.baseline else ("test",)
    splits = {name: paths.splits / f"{name}.csv" for name in read}
    with tracked_run("evaluate", params, manifest=paths.manifest, datasets=splits):
        evaluation = evaluate_model(
            classifier, test, cfg, paths.onnx if cfg.onnx_check else None, train, params.seed
        )
        outputs = write_evaluation_outputs(evaluation, test.images, test_rows, paths.outputs)
        shown = ", ".join(
            f"{k}={evaluation.metrics[k]:.4f}"
            for k in ("accuracy", "f1_macro", "baseline_accuracy")
            if k in evaluation.metrics
        )
        shown += _interval_words(evaluation.metrics)
        log.info("test split (%d images): %s", len(test.labels), shown)
        champion = sit_champion_exam(MlflowClient(), cfg.model_name, loaded.spec, test.images)
        decision = publish_evaluation(
            evaluation, classifier, test.images[0], outputs, cfg, champion
        )
        print(f"registry: {decision.describe()}")


def _interval_words(metrics: dict[str, float]) -> str:
    """`` (accuracy 95% CI 0.95-0.99; vs baseline -1.1 points, CI -3.4 to +1.1, McNemar
    p = 0.69)``: how much the figures say."""
    words = (
        f" (accuracy 95% CI {metrics['accuracy_ci95_low']:.4f}-{metrics['accuracy_ci95_high']:.4f}"
    )
    if "baseline_delta" in metrics:
        words += (
            f"; vs baseline {100 * metrics['baseline_delta']:+.1f} points, CI "
            f"{100 * metrics['baseline_delta_ci95_low']:+.1f} to "
            f"{100 * metrics['baseline_delta_ci95_high']:+.1f}, McNemar p = "
            f"{metrics['baseline_p_value']:.2g}"
        )
    return words + ")"


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf evaluate`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("evaluate", __doc__ or "")
    for flag, what in (
        ("--splits", "folder of train/val/test CSVs"),
        ("--images", "the image store (ingest's shards)"),
        ("--classes", "classes.json written by ingest"),
        ("--model", "the trained checkpoint (models/model.ckpt)"),
        ("--onnx", "the exported ONNX model to check"),
        ("--metrics", "where to write metrics.json"),
        ("--plots", "folder for the DVC plot CSVs"),
        ("--per-class", "where to write the per-class table (CSV)"),
        ("--confusion-png", "where to write the confusion matrix (PNG)"),
        ("--confusion-normalized-png", "where to write the row-normalised confusion matrix"),
        ("--curves-png", "where to write the ROC and precision-recall curves (PNG)"),
        ("--misclassified-png", "where to write the grid of misclassified images (PNG)"),
        ("--predictions", "where to write one row per test image (CSV)"),
        ("--calibration-png", "where to write the reliability diagram (PNG)"),
    ):
        parser.add_argument(flag, required=True, type=Path, help=what)
    parser.add_argument("--manifest", type=Path, help="data manifest (its hash tags the run)")
    args = parser.parse_args(argv)
    outputs = EvaluationPaths(
        args.metrics, args.plots, args.per_class, args.confusion_png,
        args.confusion_normalized_png, args.curves_png, args.misclassified_png,
        args.predictions, args.calibration_png,
    )  # fmt: skip
    paths = EvaluatePaths(
        args.splits, args.images, args.classes, args.model, args.onnx, args.manifest, outputs
    )
    return run_stage(args.params, lambda params: run_evaluate(params, paths), astuple(outputs))
