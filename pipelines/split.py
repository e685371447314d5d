"""split stage: stratified, leak-free train/val/test CSVs (and k folds) from a manifest that
passed validation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import mlflow

from imgclf.atomic import atomic_path, write_csv
from imgclf.config import load_params
from imgclf.data.schema import read_manifest
from imgclf.data.split import split_manifest
from imgclf.errors import StaleArtifactError
from imgclf.stage import base_parser, log, stage_main, tracked_run


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("split", __doc__ or "")
    parser.add_argument("--manifest", required=True, help="the manifest CSV written by ingest")
    parser.add_argument(
        "--validation", required=True, help="validation JSON: the data must have passed"
    )
    parser.add_argument(
        "--out", required=True, help="folder for train.csv, val.csv, test.csv (and folds.csv)"
    )
    args = parser.parse_args(argv)

    params = load_params(args.params)
    _require_passed_validation(Path(args.validation))
    manifest = read_manifest(args.manifest)
    with tracked_run("split", params, manifest=args.manifest):
        splits = split_manifest(
            manifest, params.split, params.seed, params.data.official_test_split
        )
        with atomic_path(args.out) as out:
            out.mkdir()
            for name in ("train", "val", "test"):
                write_csv(out / f"{name}.csv", getattr(splits, name))
            if splits.folds is not None:
                write_csv(out / "folds.csv", splits.folds)
        sizes = {
            f"{name}_images": float(len(getattr(splits, name))) for name in ("train", "val", "test")
        }
        mlflow.log_metrics(sizes)
        log.info("split: %s", ", ".join(f"{key} {value:.0f}" for key, value in sizes.items()))


def _require_passed_validation(report: Path) -> None:
    try:
        passed = json.loads(report.read_text(encoding="utf-8"))["success"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        raise StaleArtifactError(
            f"{report}: missing or unreadable; run `dvc repro validate` first"
        ) from None
    if passed is not True:
        raise StaleArtifactError(
            f"{report}: the data failed validation; fix it and run `dvc repro validate`"
        )


if __name__ == "__main__":
    raise SystemExit(main())
