"""train stage: fit the final model with the tuned params, resuming an interrupted run;
write the best checkpoint, its ONNX export and the per-epoch history."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import mlflow
from lightning.pytorch.loggers import MLFlowLogger

from imgclf.atomic import atomic_path, write_csv
from imgclf.augment import build_augmentation
from imgclf.config import load_params
from imgclf.data.datamodule import load_datamodule
from imgclf.models.checkpoint import load_classifier
from imgclf.serving.onnx_export import export_onnx
from imgclf.stage import base_parser, stage_main, tracked_run
from imgclf.training.best_params import apply_best_params
from imgclf.training.processes import launch_rank
from imgclf.training.resume import fit_resumable

log = logging.getLogger("imgclf.train")


def interactive() -> bool:
    """Lightning's progress bar in a terminal; plain log lines in CI and pipes."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("train", __doc__ or "")
    parser.add_argument("--splits", required=True, help="folder of train.csv / val.csv")
    parser.add_argument("--classes", required=True, help="classes.json")
    parser.add_argument("--augment", required=True, help="serialized albumentations pipeline")
    parser.add_argument("--best-params", required=True, help="tune stage's best params (YAML)")
    parser.add_argument(
        "--checkpoints", required=True, help="folder of best/last checkpoints (kept)"
    )
    parser.add_argument("--model", required=True, help="where to write the best checkpoint")
    parser.add_argument("--onnx", required=True, help="where to write the ONNX export")
    parser.add_argument("--history", required=True, help="where to write the per-epoch CSV")
    args = parser.parse_args(argv)

    untuned = load_params(args.params)
    params = apply_best_params(untuned, args.best_params)
    splits = Path(args.splits)
    data = load_datamodule(
        splits, args.classes, args.augment,
        batch_size=params.train.batch_size, num_workers=params.train.num_workers, seed=params.seed,
    )  # fmt: skip
    if params.augment != untuned.augment:
        # The study tuned augment.transforms.* arguments: train with the winning policy.
        tuned = [spec.model_dump() for spec in params.augment.transforms]
        log.info("augmentation: the tuned policy from %s: %s", args.best_params, tuned)
        data.augment = build_augmentation(params.augment.transforms, seed=params.seed)
    inputs = [splits / "train.csv", splits / "val.csv", args.classes, args.augment]
    if launch_rank(params.train) != 0:
        # An extra ddp process (Lightning runs this command again per process): it trains
        # its shard of every epoch; rank 0 logs to MLflow and writes the outputs.
        fit_resumable(params, data, Path(args.checkpoints), inputs, enable_progress_bar=False)
        return

    with tracked_run("train", params) as run:
        logger = MLFlowLogger(
            experiment_name=params.mlflow.experiment,
            run_id=run.info.run_id,
            tracking_uri=mlflow.get_tracking_uri(),
        )
        result = fit_resumable(
            params,
            data,
            Path(args.checkpoints),
            inputs,
            logger=logger,
            enable_progress_bar=interactive(),
        )
        if result.best_checkpoint is None:
            raise RuntimeError("training finished without a best checkpoint")
        with atomic_path(args.model) as tmp:
            shutil.copyfile(result.best_checkpoint, tmp)
        write_csv(args.history, result.history)
        loaded = load_classifier(args.model)
        export_onnx(loaded.net, loaded.spec, args.onnx)

        mlflow.set_tag("imgclf.resumed_from", str(result.resumed_from or ""))
        mlflow.log_metrics(
            {"best_val_acc": result.best_val_acc, "best_val_loss": result.best_val_loss}
        )
        for path in (args.model, args.onnx, args.history):
            mlflow.log_artifact(path)
    log.info(
        "best epoch: val_acc %.4f, val_loss %.4f -> %s, %s",
        result.best_val_acc, result.best_val_loss, args.model, args.onnx,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
