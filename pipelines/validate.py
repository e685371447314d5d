"""validate stage: run the great-expectations suites on the manifest, write the JSON report
and GX data docs, log both to MLflow, and stop the pipeline when an expectation fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mlflow

from imgclf.atomic import atomic_path, write_json
from imgclf.config import load_params
from imgclf.data.schema import read_classes, read_manifest
from imgclf.data.validate import validate_manifest
from imgclf.errors import DataError
from imgclf.stage import base_parser, log, stage_main, tracked_run


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("validate", __doc__ or "")
    parser.add_argument("--manifest", required=True, help="the manifest CSV written by ingest")
    parser.add_argument("--classes", required=True, help="classes.json written by ingest")
    parser.add_argument("--report", required=True, help="where to write the validation JSON")
    parser.add_argument(
        "--docs", required=True, help="folder for great-expectations' data docs (HTML)"
    )
    args = parser.parse_args(argv)

    params = load_params(args.params)
    manifest = read_manifest(args.manifest)
    classes = read_classes(args.classes)
    with tracked_run("validate", params, manifest=args.manifest):
        with atomic_path(args.docs) as docs:
            report = validate_manifest(
                manifest,
                classes,
                params.validate_cfg,
                params.data.channels,
                params.data.image_size,
                docs,
            )
        write_json(args.report, report.to_dict())
        mlflow.log_artifact(args.report)
        mlflow.log_artifacts(args.docs, artifact_path=Path(args.docs).name)
        mlflow.log_metrics(
            {"failed_expectations": len(report.failures), "warnings": len(report.warnings)}
        )
        for warning in report.warnings:
            log.warning("validate: %s: %s", warning.name, warning.observed)
        if not report.success:
            raise DataError(
                f"{report.failure_message()}\n  details: {args.report}, {args.docs}/index.html"
            )
        log.info("validate: %d expectations passed", len(report.outcomes) - len(report.warnings))


if __name__ == "__main__":
    raise SystemExit(main())
