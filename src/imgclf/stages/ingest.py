"""ingest stage: read data.source into the image store (canonical images in shards), the
manifest, classes.json and the rejected report. A failed ingest leaves no manifest, classes
or images behind."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow

from imgclf import tracking
from imgclf.atomic import atomic_path, remove_outputs, write_csv, write_json
from imgclf.config import Params
from imgclf.data.ingest import ingest
from imgclf.data.schema import classes_document
from imgclf.errors import UserError
from imgclf.fingerprint import file_sha256
from imgclf.stages.command import base_parser, log, run_stage, tracked_run


@dataclass(frozen=True)
class IngestPaths:
    images: Path
    manifest: Path
    classes: Path
    rejected: Path


def run_ingest(params: Params, paths: IngestPaths, workers: int = 1) -> None:
    """Write the image store, manifest, classes and rejected report (all or none)."""
    with tracked_run("ingest", params):
        tracking.log_params_flat("data", params.data.model_dump(exclude={"official_test_split"}))
        try:
            with atomic_path(paths.images) as store_dir:
                store_dir.mkdir()
                result = ingest(params.data, store_dir, workers=workers)
            write_csv(paths.manifest, result.manifest)
            write_json(paths.classes, classes_document(result.classes))
            write_csv(paths.rejected, result.rejected)
        except UserError:
            remove_outputs(paths.images, paths.manifest, paths.classes, paths.rejected)
            raise
        log.info(
            "ingest: %d images in %d classes, %d bad file(s) skipped, %d ignored",
            len(result.manifest), len(result.classes), result.bad, result.ignored,
        )  # fmt: skip
        mlflow.set_tag(tracking.TAG_MANIFEST_HASH, file_sha256(paths.manifest))
        mlflow.log_metrics(
            {
                "images": len(result.manifest),
                "bad_files": result.bad,
                "ignored_files": result.ignored,
            }
        )
        for path in (paths.classes, paths.rejected):
            mlflow.log_artifact(str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf ingest`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("ingest", __doc__ or "")
    parser.add_argument("--images", required=True, help="folder for the image store (shards)")
    parser.add_argument("--manifest", required=True, help="where to write the manifest CSV")
    parser.add_argument("--classes", required=True, help="where to write classes.json")
    parser.add_argument(
        "--rejected", required=True, help="where to write the rejected/ignored files CSV"
    )
    args = parser.parse_args(argv)
    paths = IngestPaths(Path(args.images), Path(args.manifest), Path(args.classes),
                        Path(args.rejected))  # fmt: skip
    workers = len(os.sched_getaffinity(0))
    outputs = (paths.images, paths.manifest, paths.classes, paths.rejected)
    return run_stage(args.params, lambda params: run_ingest(params, paths, workers), outputs)
