"""``train.*`` -> a Lightning Trainer with early stopping, best + last checkpoints and
the epoch history; every option goes to Lightning as it intends."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from imgclf.config import TrainConfig
from imgclf.errors import ParamError
from imgclf.training.callbacks import EpochHistory, EpochSeed
from imgclf.training.hardware import resolve_precision

BEST_NAME = "best"  # best.ckpt
LAST_NAME = "last"  # last.ckpt


def monitor_mode(monitor: str) -> str:
    """``min`` for a loss, ``max`` for an accuracy."""
    return "max" if monitor.endswith("acc") else "min"


def build_checkpointing(cfg: TrainConfig, checkpoint_dir: Path) -> ModelCheckpoint:
    """Keeps ``best.ckpt`` (by ``train.monitor``), written at the end of a training epoch
    (after validation) whenever the monitored value improved."""
    return ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename=BEST_NAME,
        monitor=cfg.monitor,
        mode=monitor_mode(cfg.monitor),
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def build_last_checkpointing(checkpoint_dir: Path) -> ModelCheckpoint:
    """Keeps ``last.ckpt``, written at the end of every training epoch: the boundary a
    resumed run restarts from.

    Not ``save_last=True`` on the best checkpoint's callback: since Lightning 2.6 that writes
    ``last.ckpt`` only in epochs that also wrote a top-k checkpoint, so after an epoch without
    improvement it still held the best epoch, and a killed run resumed from there.
    """
    return ModelCheckpoint(
        dirpath=checkpoint_dir,
        filename=LAST_NAME,
        save_top_k=1,  # with no monitor: the latest epoch, replacing the one before
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def build_trainer(
    cfg: TrainConfig,
    *,
    seed: int,
    checkpoint_dir: Path,
    max_epochs: int | None = None,
    callbacks: list[Callback] | None = None,
    logger: Logger | bool = False,
    enable_progress_bar: bool = True,
    resumable: bool = True,
) -> tuple[L.Trainer, ModelCheckpoint, EpochHistory]:
    """The Trainer plus its best-checkpoint and history callbacks (the caller reads both).

    ``resumable`` also keeps ``last.ckpt`` every epoch; tuning trials, which never resume,
    do without it.
    """
    checkpointing = build_checkpointing(cfg, checkpoint_dir)
    # After the best one: last.ckpt then records this epoch's best score and path too.
    keep_last = [build_last_checkpointing(checkpoint_dir)] if resumable else []
    history = EpochHistory()
    early_stopping = EarlyStopping(
        monitor=cfg.monitor, mode=monitor_mode(cfg.monitor), patience=cfg.patience
    )
    try:
        trainer = L.Trainer(
            max_epochs=max_epochs or cfg.max_epochs,
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            strategy=cfg.strategy,
            num_nodes=cfg.num_nodes,
            precision=resolve_precision(cfg.precision, cfg.accelerator),  # type: ignore[arg-type]
            gradient_clip_val=cfg.gradient_clip_val,
            # CPU kernels are deterministic; on GPUs some have no deterministic version, so warn.
            deterministic=True if cfg.accelerator == "cpu" else "warn",
            callbacks=[
                EpochSeed(seed),
                history,
                early_stopping,
                *(callbacks or []),
                checkpointing,
                *keep_last,
            ],
            logger=logger,
            enable_progress_bar=enable_progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            # The data module's sampler is seeded per epoch and shards itself under DDP;
            # Lightning's replacement would freeze its per-epoch augmentation seeds.
            use_distributed_sampler=False,
            # Every metric is per epoch (ClassifierModule logs them after validation), so
            # no step asks the logger connector to gather and flush metrics.
            log_every_n_steps=0,
            default_root_dir=checkpoint_dir,
        )
    except MisconfigurationException as exc:  # accelerator: gpu on a machine without one, ...
        raise ParamError(
            f"train.accelerator = {cfg.accelerator}, devices = {cfg.devices}, "
            f"strategy = {cfg.strategy}: Lightning cannot use them here: {exc}"
        ) from None
    return trainer, checkpointing, history
