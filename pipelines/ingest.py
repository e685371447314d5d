"""ingest stage: read data.source into canonical PNGs, the manifest, classes.json and the
rejected report. A failed ingest leaves no manifest, classes or images behind."""

from __future__ import annotations

import os
from collections.abc import Sequence

import mlflow

from imgclf import tracking
from imgclf.atomic import atomic_path, remove_outputs, write_csv, write_json
from imgclf.config import load_params
from imgclf.data.ingest import ingest
from imgclf.data.schema import classes_document
from imgclf.errors import UserError
from imgclf.stage import base_parser, log, stage_main, tracked_run


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("ingest", __doc__ or "")
    parser.add_argument("--images", required=True, help="folder for the canonical PNGs")
    parser.add_argument("--manifest", required=True, help="where to write the manifest CSV")
    parser.add_argument("--classes", required=True, help="where to write classes.json")
    parser.add_argument(
        "--rejected", required=True, help="where to write the rejected/ignored files CSV"
    )
    args = parser.parse_args(argv)

    params = load_params(args.params)
    workers = len(os.sched_getaffinity(0))
    with tracked_run("ingest", params):
        tracking.log_params_flat("data", params.data.model_dump(exclude={"official_test_split"}))
        try:
            with atomic_path(args.images) as images_dir:
                result = ingest(params.data, images_dir, args.images, workers=workers)
            write_csv(args.manifest, result.manifest)
            write_json(args.classes, classes_document(result.classes))
            write_csv(args.rejected, result.rejected)
        except UserError:
            remove_outputs(args.images, args.manifest, args.classes, args.rejected)
            raise
        log.info(
            "ingest: %d images in %d classes, %d bad file(s) skipped, %d ignored",
            len(result.manifest), len(result.classes), result.bad, result.ignored,
        )  # fmt: skip
        mlflow.set_tag(tracking.TAG_MANIFEST_HASH, tracking.file_sha256(args.manifest))
        mlflow.log_metrics(
            {
                "images": len(result.manifest),
                "bad_files": result.bad,
                "ignored_files": result.ignored,
            }
        )
        for path in (args.classes, args.rejected):
            mlflow.log_artifact(path)


if __name__ == "__main__":
    raise SystemExit(main())
