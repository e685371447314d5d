"""validate stage: run the great-expectations suites on the manifest, write the JSON report
and GX data docs, log both to MLflow, and stop the pipeline when an expectation fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow

from imgclf.atomic import atomic_path, write_json
from imgclf.config import Params
from imgclf.data.schema import read_classes, read_manifest
from imgclf.data.validate import validate_manifest
from imgclf.errors import DataError
from imgclf.stages.command import base_parser, log, run_stage, tracked_run


@dataclass(frozen=True)
class ValidatePaths:
    manifest: Path
    images: Path
    classes: Path
    report: Path
    docs: Path


def run_validate(params: Params, paths: ValidatePaths) -> None:
    """Write the report and data docs; raise :class:`DataError` when an expectation fails."""
    manifest = read_manifest(paths.manifest)
    classes = read_classes(paths.classes)
    with tracked_run(
        "validate", params, manifest=paths.manifest, datasets={"manifest": paths.manifest}
    ):
        with atomic_path(paths.docs) as docs:
            report = validate_manifest(
                manifest,
                classes,
                params.validate_cfg,
                params.data.channels,
                params.data.image_size,
                docs,
                paths.images,
            )
        write_json(paths.report, report.to_dict())
        mlflow.log_artifact(str(paths.report))
        mlflow.log_artifacts(str(paths.docs), artifact_path=paths.docs.name)
        mlflow.log_metrics(
            {"failed_expectations": len(report.failures), "warnings": len(report.warnings)}
        )
        for warning in report.warnings:
            log.warning("validate: %s: %s", warning.name, warning.observed)
        if not report.success:
            raise DataError(
                f"{report.failure_message()}\n  details: {paths.report}, {paths.docs}/index.html"
            )
        log.info("validate: %d expectations passed", len(report.outcomes) - len(report.warnings))


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf validate`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("validate", __doc__ or "")
    parser.add_argument("--manifest", required=True, help="the manifest CSV written by ingest")
    parser.add_argument("--images", required=True, help="the image store (ingest's shards)")
    parser.add_argument("--classes", required=True, help="classes.json written by ingest")
    parser.add_argument("--report", required=True, help="where to write the validation JSON")
    parser.add_argument(
        "--docs", required=True, help="folder for great-expectations' data docs (HTML)"
    )
    args = parser.parse_args(argv)
    paths = ValidatePaths(Path(args.manifest), Path(args.images), Path(args.classes),
                          Path(args.report), Path(args.docs))  # fmt: skip
    outputs = (paths.report, paths.docs)
    return run_stage(args.params, lambda params: run_validate(params, paths), outputs)
