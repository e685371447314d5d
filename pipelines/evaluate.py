"""evaluate stage: score the trained model on the test split, write metrics.json, DVC plots
and reports, log everything to MLflow and register the model (champion only if better)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from imgclf.config import load_params
from imgclf.data.schema import read_classes
from imgclf.errors import StaleArtifactError
from imgclf.evaluation.evaluate import (
    OutputPaths,
    check_promote_metric,
    evaluate_model,
    load_split_images,
    write_outputs,
)
from imgclf.evaluation.publish import publish_evaluation
from imgclf.models.checkpoint import load_classifier
from imgclf.serving.image_classifier import ImageClassifier, ImageSettings
from imgclf.stage import base_parser, stage_main, tracked_run

log = logging.getLogger("imgclf.evaluate")


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("evaluate", __doc__ or "")
    parser.add_argument("--splits", required=True, help="folder of train/val/test CSVs")
    parser.add_argument("--classes", required=True, help="classes.json written by ingest")
    parser.add_argument("--model", required=True, help="the trained checkpoint (models/model.ckpt)")
    parser.add_argument("--onnx", required=True, help="the exported ONNX model to check")
    parser.add_argument("--manifest", help="data manifest (its hash tags the run and version)")
    parser.add_argument("--metrics", required=True, help="where to write metrics.json")
    parser.add_argument("--plots", required=True, help="folder for the DVC plot CSVs")
    parser.add_argument("--reports", required=True, help="folder for PNGs and per_class.csv")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    cfg = params.evaluate
    check_promote_metric(cfg)
    loaded = load_classifier(args.model)
    classes = read_classes(args.classes)
    if list(loaded.spec.class_names) != classes:
        raise StaleArtifactError(
            f"{args.model}: trained on other classes than {args.classes}; run `dvc repro train`"
        )
    classifier = ImageClassifier(
        loaded.net, loaded.spec, ImageSettings.for_spec(loaded.spec, params.data)
    )
    test = load_split_images(Path(args.splits) / "test.csv", classes)
    train = load_split_images(Path(args.splits) / "train.csv", classes) if cfg.baseline else None

    with tracked_run("evaluate", params, manifest=args.manifest):
        evaluation = evaluate_model(
            classifier, test, cfg, args.onnx if cfg.onnx_check else None, train, params.seed
        )
        outputs = write_outputs(
            evaluation,
            test.images,
            OutputPaths(Path(args.metrics), Path(args.plots), Path(args.reports)),
        )
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


if __name__ == "__main__":
    raise SystemExit(main())
