"""train stage: fit the final model with the tuned params, resuming an interrupted run;
write the best checkpoint (weights and spec only, no paths), its ONNX export and the
per-epoch history."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import mlflow
from lightning.pytorch.loggers import MLFlowLogger

from imgclf.atomic import atomic_path, write_csv
from imgclf.augment import build_augmentation, load_augmentation, save_augmentation
from imgclf.config import Params
from imgclf.data.datamodule import ImageDataModule
from imgclf.data.schema import read_classes, read_split
from imgclf.models.architectures import check_architecture
from imgclf.models.checkpoint import load_classifier, read_checkpoint, save_model_file
from imgclf.models.cost import network_cost
from imgclf.serving.onnx_export import export_onnx
from imgclf.stages.command import base_parser, run_stage, tracked_run
from imgclf.training.best_params import apply_best_params
from imgclf.training.processes import launch_rank, rendezvous_defaults
from imgclf.training.resume import fit_resumable

log = logging.getLogger("imgclf.train")

# The policy the final model trained with, logged beside the checkpoint in the train run.
EFFECTIVE_AUGMENT_ARTIFACT = "augment.json"


@dataclass(frozen=True)
class TrainPaths:
    splits: Path
    images: Path
    classes: Path
    augment: Path
    best_params: Path
    checkpoints: Path
    model: Path
    onnx: Path
    history: Path


def interactive() -> bool:
    """Lightning's progress bar in a terminal; plain log lines in CI and pipes."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def effective_augmentation(untuned: Params, params: Params, paths: TrainPaths) -> A.Compose:
    """The augment stage's policy, or, when the study tuned ``augment.transforms.*``
    arguments (``params`` differ from ``untuned`` there), the winning policy."""
    stage_policy = load_augmentation(paths.augment, params.seed)
    if params.augment == untuned.augment:
        return stage_policy
    tuned = [spec.model_dump() for spec in params.augment.transforms]
    log.info("augmentation: the tuned policy from %s: %s", paths.best_params, tuned)
    return build_augmentation(params.augment.transforms, seed=params.seed)


def run_train(untuned: Params, paths: TrainPaths, progress_bar: bool = False) -> None:
    """Train with ``untuned`` plus the tune stage's best params; write the declared outputs
    (only on rank 0: an extra ddp process trains its shard and nothing else)."""
    params = apply_best_params(untuned, paths.best_params)
    check_architecture(params.model.name)
    augment = effective_augmentation(untuned, params, paths)
    classes = read_classes(paths.classes)
    data = ImageDataModule(
        read_split(paths.splits / "train.csv"), read_split(paths.splits / "val.csv"), classes,
        augment=augment, batch_size=params.train.batch_size,
        num_workers=params.train.num_workers, seed=params.seed, store_dir=paths.images,
    )  # fmt: skip
    splits = {name: paths.splits / f"{name}.csv" for name in ("train", "val")}
    inputs = [*splits.values(), paths.classes, paths.augment]
    os.environ.update(rendezvous_defaults(params.train, os.environ))
    if launch_rank(params.train) != 0:
        # Lightning runs this command again per ddp process; rank 0 logs and writes.
        fit_resumable(params, data, paths.checkpoints, inputs, enable_progress_bar=False)
        return

    with tracked_run("train", params, datasets=splits) as run:
        logger = MLFlowLogger(
            experiment_name=params.mlflow.experiment,
            run_id=run.info.run_id,
            tracking_uri=mlflow.get_tracking_uri(),
            # Synchronous: the asynchronous queue's shutdown waits out its one-second poll at
            # the end of every fit (BENCHMARKS.md, "Training: Lightning against a plain
            # PyTorch loop").
            synchronous=True,
        )
        result = fit_resumable(
            params, data, paths.checkpoints, inputs, logger=logger, enable_progress_bar=progress_bar
        )
        if result.best_checkpoint is None:
            raise RuntimeError("training finished without a best checkpoint")
        with atomic_path(paths.model) as tmp:
            save_model_file(read_checkpoint(result.best_checkpoint), tmp)
        write_csv(paths.history, result.history)
        loaded = load_classifier(paths.model)
        export_onnx(loaded.net, loaded.spec, paths.onnx)

        mlflow.set_tag("imgclf.resumed_from", str(result.resumed_from or ""))
        # What the model costs per image, on every machine alike: tune.select compares the same.
        cost = network_cost(result.module.net, result.module.spec)
        mlflow.log_metrics(
            {
                "best_val_acc": result.best_val_acc,
                "best_val_loss": result.best_val_loss,
                "forward_flops": cost.forward_flops,
                "parameters": cost.parameters,
            }
        )
        for path in (paths.model, paths.onnx, paths.history):
            mlflow.log_artifact(str(path))
        _log_augmentation(augment)
    log.info(
        "best epoch: val_acc %.4f, val_loss %.4f -> %s, %s",
        result.best_val_acc, result.best_val_loss, paths.model, paths.onnx,
    )  # fmt: skip


def _log_augmentation(augment: A.Compose) -> None:
    with tempfile.TemporaryDirectory(prefix="imgclf-augment-") as folder:
        path = Path(folder) / EFFECTIVE_AUGMENT_ARTIFACT
        save_augmentation(augment, path)
        mlflow.log_artifact(str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf train`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("train", __doc__ or "")
    for flag, what in (
        ("--splits", "folder of train.csv / val.csv"),
        ("--images", "the image store (ingest's shards)"),
        ("--classes", "classes.json"),
        ("--augment", "serialized albumentations pipeline"),
        ("--best-params", "tune stage's best params (YAML)"),
        ("--checkpoints", "folder of best/last checkpoints (kept)"),
        ("--model", "where to write the best checkpoint"),
        ("--onnx", "where to write the ONNX export"),
        ("--history", "where to write the per-epoch CSV"),
    ):
        parser.add_argument(flag, required=True, type=Path, help=what)
    args = parser.parse_args(argv)
    paths = TrainPaths(
        args.splits, args.images, args.classes, args.augment, args.best_params,
        args.checkpoints, args.model, args.onnx, args.history,
    )  # fmt: skip
    outputs = (paths.checkpoints, paths.model, paths.onnx, paths.history)
    return run_stage(args.params, lambda params: run_train(params, paths, interactive()), outputs)
