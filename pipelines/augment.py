"""augment stage: build the albumentations policy from params, save it, preview it."""

from __future__ import annotations

from collections.abc import Sequence

import mlflow

from imgclf.augment import build_augmentation, save_augmentation, save_preview
from imgclf.config import load_params
from imgclf.data.images import read_image
from imgclf.data.schema import read_split
from imgclf.stage import base_parser, stage_main, tracked_run


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("augment", __doc__ or "")
    parser.add_argument("--train", required=True, help="train split CSV (images for the preview)")
    parser.add_argument(
        "--out", required=True, help="where to write the serialized pipeline (JSON)"
    )
    parser.add_argument("--preview", required=True, help="where to write the preview PNG")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    pipeline = build_augmentation(params.augment.transforms, seed=params.seed)
    train = read_split(args.train)
    # One image per class first, so the preview shows every class it can.
    sample = train.groupby("label", sort=True).head(1).head(params.augment.preview_samples)
    originals = [read_image(path) for path in sample["path"]]

    with tracked_run("augment", params):
        save_augmentation(pipeline, args.out)
        save_preview(originals, list(sample["label"]), pipeline, args.preview)
        mlflow.log_artifact(args.out)
        mlflow.log_artifact(args.preview)


if __name__ == "__main__":
    raise SystemExit(main())
