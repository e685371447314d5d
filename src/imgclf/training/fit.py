"""One training run: params + data module in, trained module and its history out.

Both the tune stage (one call per trial) and the train stage call :func:`fit`.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger

from imgclf import numerics
from imgclf.config import ModelConfig, Params, TrainConfig
from imgclf.data.datamodule import ImageDataModule
from imgclf.models.architectures import AUTO, auto_depth, auto_width
from imgclf.models.checkpoint import read_checkpoint
from imgclf.models.spec import ModelSpec
from imgclf.training.hardware import resolve_threads
from imgclf.training.module import ClassifierModule
from imgclf.training.network import initial_network
from imgclf.training.trainer import build_trainer, monitor_mode


@dataclass
class FitResult:
    """What one training run produced.

    ``best_val_acc``/``best_val_loss`` are the validation figures of the kept (best by
    ``train.monitor``) epoch, whose weights ``module`` holds.
    """

    module: ClassifierModule
    best_val_acc: float
    best_val_loss: float
    history: pd.DataFrame
    best_checkpoint: Path | None
    resumed_from: Path | None


def spec_for(model_cfg: ModelConfig, data: ImageDataModule) -> ModelSpec:
    """The model spec of ``model_cfg`` sized to ``data`` (channels, classes, statistics)."""
    return ModelSpec(
        arch=model_cfg.name,
        width=resolved_width(model_cfg, data.image_size),
        depth=resolved_depth(model_cfg, data.image_size),
        dropout=model_cfg.dropout,
        in_channels=data.channels,
        num_classes=len(data.classes),
        image_size=data.image_size,
        class_names=tuple(data.classes),
        mean=data.mean,
        std=data.std,
    )


def resolved_depth(model_cfg: ModelConfig, image_size: int) -> int:
    """``model.depth``, with ``auto`` sized to the images (:func:`auto_depth`)."""
    return auto_depth(image_size) if model_cfg.depth == AUTO else int(model_cfg.depth)


def resolved_width(model_cfg: ModelConfig, image_size: int) -> int:
    """``model.width``, with ``auto`` sized to the images (:func:`auto_width`)."""
    return auto_width(image_size) if model_cfg.width == AUTO else int(model_cfg.width)


def resolved_auto(params: Params, image_size: int) -> dict[str, int]:
    """The ``model.*`` values that ``auto`` stands for on images of ``image_size``."""
    resolved = {}
    if params.model.depth == AUTO:
        resolved["model.depth"] = resolved_depth(params.model, image_size)
    if params.model.width == AUTO:
        resolved["model.width"] = resolved_width(params.model, image_size)
    return resolved


def resolved_model_keys(params: Params, image_size: int) -> dict[str, int]:
    """:func:`resolved_auto` but for the keys the study tunes (its trials set those)."""
    return {
        key: value
        for key, value in resolved_auto(params, image_size).items()
        if key not in params.tune.space
    }


def fit(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data: ImageDataModule,
    *,
    seed: int,
    max_epochs: int | None = None,
    callbacks: list[Callback] | None = None,
    logger: Logger | bool = False,
    checkpoint_dir: Path | None = None,
    enable_progress_bar: bool = True,
    resume_from: Path | None = None,
) -> FitResult:
    """Train with early stopping and return the best epoch's weights.

    ``max_epochs`` overrides ``train_cfg.max_epochs`` (tuning trials). Checkpoints go to
    ``checkpoint_dir`` (``best.ckpt``, and ``last.ckpt`` to resume from), or to a temporary
    folder removed on return when it is None (``best.ckpt`` only). ``resume_from`` is a
    checkpoint of the same run to continue.
    """
    # Process-wide; for tiny images extra threads cost more in synchronisation than they
    # gain, and on a busy machine oversubscribed threads slow training by 10x.
    torch.set_num_threads(resolve_threads(train_cfg.num_threads, data.image_size))
    numerics.configure_torch()
    seed_everything(seed, workers=True, verbose=False)
    spec = spec_for(model_cfg, data)
    module = ClassifierModule.create(initial_network(spec, model_cfg), spec, model_cfg, train_cfg)
    with contextlib.ExitStack() as stack:
        folder = checkpoint_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="imgclf-fit-"))
        )
        trainer, checkpointing, history = build_trainer(
            train_cfg,
            seed=seed,
            checkpoint_dir=folder,
            max_epochs=max_epochs,
            callbacks=callbacks,
            logger=logger,
            enable_progress_bar=enable_progress_bar,
            resumable=checkpoint_dir is not None,
        )
        try:
            trainer.fit(module, datamodule=data, ckpt_path=resume_from, weights_only=True)
        finally:
            # Lightning skips the data module's teardown when fit raises (a pruned trial).
            data.close_train_batches()
        best = Path(checkpointing.best_model_path) if checkpointing.best_model_path else None
        if best is not None:
            module.load_state_dict(read_checkpoint(best)["state_dict"])
    frame = history.frame()
    best_row = best_epoch(frame, train_cfg.monitor)
    return FitResult(
        module=module,
        best_val_acc=best_row["val_acc"],
        best_val_loss=best_row["val_loss"],
        history=frame,
        best_checkpoint=best if checkpoint_dir is not None else None,
        resumed_from=resume_from,
    )


def best_epoch(history: pd.DataFrame, monitor: str) -> dict[str, float]:
    """The first epoch with the best ``monitor`` value, as ModelCheckpoint keeps it."""
    scored = history.dropna(subset=[monitor])
    if scored.empty:
        return {"val_acc": math.nan, "val_loss": math.nan}
    values = scored[monitor]
    index = values.idxmax() if monitor_mode(monitor) == "max" else values.idxmin()
    return {key: float(value) for key, value in scored.loc[index].items()}
