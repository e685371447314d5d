"""One trial: sampled params -> a short Lightning training -> validation accuracy.

Each worker builds its objective once (:func:`build_objective`), so the images are decoded
once per worker, not once per trial. With ``tune.folds`` a trial trains once per fold of the
split stage's ``folds.csv`` and scores the mean validation accuracy; only the first fold
reports to the pruner (a step is an epoch, and steps must not repeat within a trial).

A complete trial also records, as user attributes in the study's storage, its predicted class
on every validation image (in :func:`validation_rows` order) and its network's cost: the
storage is the one place every worker of a shared study writes to, so whichever worker
writes the report finds every trial's predictions there (:mod:`imgclf.tuning.evidence`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import torch
from optuna_integration import PyTorchLightningPruningCallback

from imgclf.augment import build_augmentation, load_augmentation
from imgclf.config import Params, with_overrides
from imgclf.data.datamodule import ImageDataModule
from imgclf.data.schema import FOLD_COLUMNS, read_classes, read_split, read_table
from imgclf.data.split_reader import LabelledImages, load_split_images
from imgclf.data.stratified_split import stratified_subset
from imgclf.errors import ParamError
from imgclf.fingerprint import content_hash
from imgclf.models.cost import network_cost
from imgclf.models.inference import torch_probabilities
from imgclf.training.fit import fit
from imgclf.training.processes import one_device_per_trial
from imgclf.tuning.space import suggest
from imgclf.tuning.study import Objective
from imgclf.tuning.trial_runs import log_epoch_history, trial_run

log = logging.getLogger(__name__)

USER_ATTR_FOLD_ACC = "fold_val_acc"
# Recorded so that trials tied on accuracy (common on a small val split) can be ranked.
USER_ATTR_VAL_LOSS = "val_loss"
# A complete trial's predicted class index per validation image, and its network's cost.
USER_ATTR_PREDICTIONS = "val_predictions"
USER_ATTR_FLOPS = "forward_flops"
USER_ATTR_PARAMETERS = "parameters"
# Where and how a trial runs, not what it computes: team members on CPUs and GPUs share a study.
HOW_TO_RUN = {"accelerator", "devices", "strategy", "num_nodes", "num_workers", "num_threads"}

Fold = tuple[LabelledImages, LabelledImages]  # the (train, val) images of one fit


@dataclass(frozen=True)
class TrialInputs:
    """The split stage's folder, the image store, ``classes.json`` and the augment stage's
    JSON."""

    splits_dir: str
    store_dir: str
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
    classes = read_classes(inputs.classes_path)
    # Opened once per worker and only read afterwards: every fit builds its own data module
    # over these store views with its own batch size and augmentation.
    limit = params.tune.max_train_images, params.seed
    folds = (
        _fold_images(inputs, classes, *limit)
        if params.tune.folds
        else [_split_images(inputs, classes, *limit)]
    )
    tunes_augment = any(key.startswith("augment.") for key in params.tune.space)
    if not tunes_augment and inputs.augment_path is not None:
        load_augmentation(inputs.augment_path, params.seed)  # a missing file fails before a trial
    confined = one_device_per_trial(params.train, worker)
    if confined is not params.train:
        log.info(
            "worker %d: each trial trains on devices=%s (train.devices = %s is for the "
            "train stage; --workers runs trials side by side)",
            worker, confined.devices, params.train.devices,
        )  # fmt: skip

    def trial_data(
        trial_params: Params, train: LabelledImages, val: LabelledImages
    ) -> ImageDataModule:
        if tunes_augment:
            augment = build_augmentation(trial_params.augment.transforms, seed=params.seed)
        elif inputs.augment_path is not None:
            augment = load_augmentation(inputs.augment_path, params.seed)
        else:
            augment = None
        return ImageDataModule(
            train,
            val,
            classes,
            augment=augment,
            batch_size=trial_params.train.batch_size,
            num_workers=trial_params.train.num_workers,
            seed=params.seed,
        )

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, params.tune.space)
        trial_params = with_overrides(params, values)
        log.info("trial %d: %s", trial.number, values)
        with trial_run(trial, values, enabled=track):
            scores, losses, predicted = [], [], []
            for index, (train, val) in enumerate(folds):
                callbacks = (
                    [PyTorchLightningPruningCallback(trial, monitor="val_acc")]
                    if index == 0
                    else []
                )
                result = fit(
                    trial_params.model,
                    one_device_per_trial(trial_params.train, worker),
                    trial_data(trial_params, train, val),
                    seed=params.seed,
                    max_epochs=params.tune.max_epochs,
                    callbacks=callbacks,
                    enable_progress_bar=False,
                )
                log_epoch_history(result.history, prefix=f"fold{index}_" if len(folds) > 1 else "")
                scores.append(result.best_val_acc)
                losses.append(result.best_val_loss)
                # The kept epoch's weights, through the inference path evaluate uses.
                net, spec = result.module.net, result.module.spec
                predicted += torch_probabilities(net, spec, val.images).argmax(1).tolist()
            if len(folds) > 1:
                trial.set_user_attr(USER_ATTR_FOLD_ACC, scores)
            trial.set_user_attr(USER_ATTR_VAL_LOSS, float(sum(losses) / len(losses)))
            trial.set_user_attr(USER_ATTR_PREDICTIONS, predicted)
            cost = network_cost(net, spec)
            trial.set_user_attr(USER_ATTR_FLOPS, cost.forward_flops)
            trial.set_user_attr(USER_ATTR_PARAMETERS, cost.parameters)
            return float(sum(scores) / len(scores))

    return objective


def objective_fingerprint(params: Params, inputs: TrialInputs) -> str:
    """A hash of everything a trial's score depends on: seed, model, train and augment
    params, the tune settings that shape a trial, and the bytes of the input files.

    Trials scored under another fingerprint are not comparable, so they belong in another
    study.
    """
    tune = params.tune.model_dump(
        mode="json",
        include={"sampler", "pruner", "max_epochs", "max_train_images", "folds", "space"},
    )
    settings = {
        "seed": params.seed,
        "model": params.model.model_dump(mode="json"),
        "train": params.train.model_dump(mode="json", exclude=HOW_TO_RUN),
        "augment": params.augment.model_dump(mode="json"),
        "tune": tune,
    }
    splits = Path(inputs.splits_dir)
    names = ["train.csv", "val.csv", *(["folds.csv"] if params.tune.folds else [])]
    files = [splits / name for name in names] + [
        Path(p) for p in (inputs.classes_path, inputs.augment_path) if p
    ]
    return content_hash(settings, [path for path in files if path.is_file()], length=12)


def _trial_rows(rows: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """Trials train on at most ``tune.max_train_images`` (a stratified subset drawn with the
    seed): a study on 60,000 images then costs what one on 10,000 does, and the train stage
    fits the winner on all of them. Only the kept images are read."""
    if limit is None or len(rows) <= limit:
        return rows
    kept = stratified_subset(rows, limit, seed)
    log.info("trials train on %d of %d images (tune.max_train_images)", len(kept), len(rows))
    return kept


def _split_images(inputs: TrialInputs, classes: list[str], limit: int | None, seed: int) -> Fold:
    splits = Path(inputs.splits_dir)
    train = _trial_rows(read_split(splits / "train.csv"), limit, seed)
    return (
        load_split_images(train, classes, "train", inputs.store_dir),
        load_split_images(read_split(splits / "val.csv"), classes, "val", inputs.store_dir),
    )


def read_folds(splits_dir: str | Path) -> pd.DataFrame:
    """The split stage's ``folds.csv``, which ``tune.folds: true`` needs."""
    path = Path(splits_dir) / "folds.csv"
    if not path.is_file():
        raise ParamError(
            f"tune.folds = true needs {path}: set split.folds > 1 and run `dvc repro split`"
        )
    return read_table(path, FOLD_COLUMNS, "split")


def validation_rows(splits_dir: str | Path, folds: bool) -> pd.DataFrame:
    """The images trials are scored on, in the order of their recorded predictions: the val
    split, or with ``tune.folds`` every fold's validation images, fold by fold."""
    if not folds:
        return read_split(Path(splits_dir) / "val.csv")
    frame = read_folds(splits_dir)
    return pd.concat([frame[frame["fold"] == fold] for fold in sorted(frame["fold"].unique())])


def _fold_images(
    inputs: TrialInputs, classes: list[str], limit: int | None, seed: int
) -> list[Fold]:
    frame = read_folds(inputs.splits_dir)
    return [
        (
            load_split_images(
                _trial_rows(frame[frame["fold"] != fold], limit, seed),
                classes,
                f"fold {fold} train",
                inputs.store_dir,
            ),
            load_split_images(
                frame[frame["fold"] == fold], classes, f"fold {fold} val", inputs.store_dir
            ),
        )
        for fold in sorted(frame["fold"].unique())
    ]
