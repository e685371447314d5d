"""evaluate stage: score the trained model on the test split, write metrics.json, DVC plots
and reports, log everything to MLflow and register the model (champion only if better)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from imgclf.config import Params
from imgclf.data.schema import read_classes, read_split
from imgclf.data.split_images import load_split_images
from imgclf.errors import StaleArtifactError
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
    classes: Path
    model: Path
    onnx: Path
    manifest: Path | None
    outputs: EvaluationPaths


def run_evaluate(params: Params, paths: EvaluatePaths) -> None:
    """Write every declared output, log them, register the model and judge it."""
    cfg = params.evaluate
    check_promote_metric(cfg)
    loaded = load_classifier(paths.model)
    classes = read_classes(paths.classes)
    if list(loaded.spec.class_names) != classes:
        raise StaleArtifactError(
            f"{paths.model}: trained on other classes than {paths.classes}; run `dvc repro train`"
        )
    classifier = InferenceClassifier(
        loaded.net, loaded.spec, ImageSettings.for_spec(loaded.spec, params.data)
    )
    test = load_split_images(read_split(paths.splits / "test.csv"), classes, "test")
    train = (
        load_split_images(read_split(paths.splits / "train.csv"), classes, "train")
        if cfg.baseline
        else None
    )

    with tracked_run("evaluate", params, manifest=paths.manifest):
        evaluation = evaluate_model(
            classifier, test, cfg, paths.onnx if cfg.onnx_check else None, train, params.seed
        )
        outputs = write_evaluation_outputs(evaluation, test.images, paths.outputs)
        shown = ", ".join(
            f"{k}={evaluation.metrics[k]:.4f}"
            for k in ("accuracy", "f1_macro", "baseline_accuracy")
            if k in evaluation.metrics
        )
        log.info("test split (%d images): %s", len(test.labels), shown)
        decision = publish_evaluation(
            evaluation, classifier, test.images[0], outputs, cfg.model_name, cfg.promote_metric
        )
        print(f"registry: {decision.describe()}")


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf evaluate`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("evaluate", __doc__ or "")
    for flag, what in (
        ("--splits", "folder of train/val/test CSVs"),
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
    ):
        parser.add_argument(flag, required=True, type=Path, help=what)
    parser.add_argument("--manifest", type=Path, help="data manifest (its hash tags the run)")
    args = parser.parse_args(argv)
    outputs = EvaluationPaths(
        args.metrics, args.plots, args.per_class, args.confusion_png,
        args.confusion_normalized_png, args.curves_png, args.misclassified_png,
    )  # fmt: skip
    paths = EvaluatePaths(args.splits, args.classes, args.model, args.onnx, args.manifest, outputs)
    return run_stage(args.params, lambda params: run_evaluate(params, paths), astuple(outputs))
