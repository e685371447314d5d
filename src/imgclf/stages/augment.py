"""augment stage: build the albumentations policy from params, save it, preview it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow

from imgclf.augment import build_augmentation, save_augmentation, save_preview
from imgclf.config import Params
from imgclf.data.schema import read_split
from imgclf.data.store import StoreImages
from imgclf.stages.command import base_parser, run_stage, tracked_run


@dataclass(frozen=True)
class AugmentPaths:
    train: Path
    images: Path
    out: Path
    preview: Path


def run_augment(params: Params, paths: AugmentPaths) -> None:
    """Write the serialized policy and its preview grid of train images."""
    pipeline = build_augmentation(params.augment.transforms, seed=params.seed)
    train = read_split(paths.train)
    # One image per class first, so the preview shows every class it can.
    sample = train.groupby("label", sort=True).head(1).head(params.augment.preview_samples)
    originals = list(StoreImages.of_rows(sample, paths.images)[:])

    with tracked_run("augment", params, datasets={"train": paths.train}):
        save_augmentation(pipeline, paths.out)
        save_preview(originals, list(sample["label"]), pipeline, paths.preview)
        mlflow.log_artifact(str(paths.out))
        mlflow.log_artifact(str(paths.preview))


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf augment`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("augment", __doc__ or "")
    parser.add_argument("--train", required=True, help="train split CSV (images for the preview)")
    parser.add_argument("--images", required=True, help="the image store (ingest's shards)")
    parser.add_argument(
        "--out", required=True, help="where to write the serialized pipeline (JSON)"
    )
    parser.add_argument("--preview", required=True, help="where to write the preview PNG")
    args = parser.parse_args(argv)
    paths = AugmentPaths(Path(args.train), Path(args.images), Path(args.out), Path(args.preview))
    outputs = (paths.out, paths.preview)
    return run_stage(args.params, lambda params: run_augment(params, paths), outputs)
