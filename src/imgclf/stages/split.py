"""split stage: stratified, leak-free train/val/test CSVs (and k folds) from a manifest that
passed validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow

from imgclf.atomic import atomic_path, write_csv
from imgclf.config import Params
from imgclf.data.schema import read_manifest, require_passed_validation
from imgclf.data.stratified_split import split_manifest
from imgclf.stages.command import base_parser, log, run_stage, tracked_run


@dataclass(frozen=True)
class SplitPaths:
    manifest: Path
    validation: Path
    out: Path


def run_split(params: Params, paths: SplitPaths) -> None:
    """Write ``train.csv``, ``val.csv``, ``test.csv`` (and ``folds.csv``) into ``paths.out``."""
    require_passed_validation(paths.validation)
    manifest = read_manifest(paths.manifest)
    with tracked_run(
        "split", params, manifest=paths.manifest, datasets={"manifest": paths.manifest}
    ):
        splits = split_manifest(
            manifest, params.split, params.seed, params.data.official_test_split
        )
        with atomic_path(paths.out) as out:
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


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf split`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("split", __doc__ or "")
    parser.add_argument("--manifest", required=True, help="the manifest CSV written by ingest")
    parser.add_argument(
        "--validation", required=True, help="validation JSON: the data must have passed"
    )
    parser.add_argument(
        "--out", required=True, help="folder for train.csv, val.csv, test.csv (and folds.csv)"
    )
    args = parser.parse_args(argv)
    paths = SplitPaths(Path(args.manifest), Path(args.validation), Path(args.out))
    return run_stage(args.params, lambda params: run_split(params, paths), [paths.out])
