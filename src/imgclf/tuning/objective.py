"""One trial: sampled params -> a short Lightning training -> validation accuracy.

Each worker builds its objective once (:func:`build_objective`), so the images are decoded
once per worker, not once per trial. With ``tune.folds`` a trial trains once per fold of the
split stage's ``folds.csv`` and scores the mean validation accuracy; only the first fold
reports to the pruner (a step is an epoch, and steps must not repeat within a trial).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna_integration import PyTorchLightningPruningCallback

from imgclf.augment import build_augmentation, load_augmentation
from imgclf.config import Params, with_overrides
from imgclf.data.datamodule import ImageDataModule, load_datamodule
from imgclf.data.schema import FOLD_COLUMNS, read_classes, read_table
from imgclf.errors import ConfigError
from imgclf.tracking import file_sha256
from imgclf.training.fit import fit
from imgclf.training.processes import one_device_per_trial
from imgclf.tuning.space import suggest
from imgclf.tuning.study import Objective
from imgclf.tuning.trial_runs import log_epoch_history, trial_run

log = logging.getLogger(__name__)

USER_ATTR_FOLD_ACC = "fold_val_acc"
# Recorded so that trials tied on accuracy (common on a small val split) can be ranked.
USER_ATTR_VAL_LOSS = "val_loss"
# Where and how a trial runs, not what it computes: team members on CPUs and GPUs share a study.
HOW_TO_RUN = {"accelerator", "devices", "strategy", "num_nodes", "num_workers"}


@dataclass(frozen=True)
class TrialInputs:
    """The split stage's folder, ``classes.json`` and the augment stage's JSON."""

    splits_dir: str
    classes_path: str
    augment_path: str | None


def build_objective(
    params: Params,
    inputs: TrialInputs,
    worker: int,
    *,
    threads: int | None = None,
    track: bool = True,
) -> Objective:
    """The objective of worker ``worker``: ``trial -> validation accuracy`` (maximize).

    ``threads`` caps torch's CPU threads (several workers share the cores); ``track`` logs
    each trial as a nested MLflow run under the active run.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    folds = _fold_data(params, inputs) if params.tune.folds else [_split_data(params, inputs)]
    tunes_augment = any(key.startswith("augment.") for key in params.tune.space)
    confined = one_device_per_trial(params.train, worker)
    if confined is not params.train:
        log.info(
            "worker %d: each trial trains on devices=%s (train.devices = %s is for the "
            "train stage; --workers runs trials side by side)",
            worker, confined.devices, params.train.devices,
        )  # fmt: skip

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, params.tune.space)
        trial_params = with_overrides(params, values)
        log.info("trial %d: %s", trial.number, values)
        with trial_run(trial, values, enabled=track):
            scores, losses = [], []
            for index, data in enumerate(folds):
                data.batch_size = trial_params.train.batch_size
                if tunes_augment:
                    data.augment = build_augmentation(
                        trial_params.augment.transforms, seed=params.seed
                    )
                callbacks = (
                    [PyTorchLightningPruningCallback(trial, monitor="val_acc")]
                    if index == 0
                    else []
                )
                result = fit(
                    trial_params.model,
                    one_device_per_trial(trial_params.train, worker),
                    data,
                    seed=params.seed,
                    max_epochs=params.tune.max_epochs,
                    callbacks=callbacks,
                    enable_progress_bar=False,
                )
                log_epoch_history(result.history, prefix=f"fold{index}_" if len(folds) > 1 else "")
                scores.append(result.best_val_acc)
                losses.append(result.best_val_loss)
            if len(folds) > 1:
                trial.set_user_attr(USER_ATTR_FOLD_ACC, scores)
            trial.set_user_attr(USER_ATTR_VAL_LOSS, float(sum(losses) / len(losses)))
            return float(sum(scores) / len(scores))

    return objective


def objective_fingerprint(params: Params, inputs: TrialInputs) -> str:
    """A hash of everything a trial's score depends on: seed, model, train and augment
    params, the tune settings that shape a trial, and the bytes of the input files.

    Trials scored under another fingerprint are not comparable, so they belong in another
    study.
    """
    tune = params.tune.model_dump(
        mode="json", include={"sampler", "pruner", "max_epochs", "folds", "space"}
    )
    digest = hashlib.sha256(
        json.dumps(
            {
                "seed": params.seed,
                "model": params.model.model_dump(mode="json"),
                "train": params.train.model_dump(mode="json", exclude=HOW_TO_RUN),
                "augment": params.augment.model_dump(mode="json"),
                "tune": tune,
            },
            sort_keys=True,
        ).encode()
    )
    splits = Path(inputs.splits_dir)
    names = ["train.csv", "val.csv", *(["folds.csv"] if params.tune.folds else [])]
    files = [splits / name for name in names] + [
        Path(p) for p in (inputs.classes_path, inputs.augment_path) if p
    ]
    for path in files:
        if path.is_file():
            digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:12]


def _split_data(params: Params, inputs: TrialInputs) -> ImageDataModule:
    return load_datamodule(
        inputs.splits_dir,
        inputs.classes_path,
        inputs.augment_path,
        batch_size=params.train.batch_size,
        num_workers=params.train.num_workers,
        seed=params.seed,
    )


def _fold_data(params: Params, inputs: TrialInputs) -> list[ImageDataModule]:
    path = Path(inputs.splits_dir) / "folds.csv"
    if not path.is_file():
        raise ConfigError(
            f"params.yaml: tune.folds = true needs {path}: "
            "set split.folds > 1 and run `dvc repro split`"
        )
    frame = read_table(path, FOLD_COLUMNS, "split")
    classes = read_classes(inputs.classes_path)
    augment = load_augmentation(inputs.augment_path, params.seed) if inputs.augment_path else None
    return [
        ImageDataModule(
            frame[frame["fold"] != fold].reset_index(drop=True),
            frame[frame["fold"] == fold].reset_index(drop=True),
            classes,
            augment=augment,
            batch_size=params.train.batch_size,
            num_workers=params.train.num_workers,
            seed=params.seed,
        )
        for fold in sorted(frame["fold"].unique())
    ]
