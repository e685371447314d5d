"""The two Lightning callbacks imgclf adds to Lightning's own (early stopping, checkpoints)."""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning.pytorch as L
import pandas as pd
from lightning.fabric.utilities.seed import seed_everything

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]


class EpochHistory(L.Callback):
    """Keeps one row of epoch metrics per finished epoch, logs it as a plain line, and
    saves the rows in checkpoints so a resumed run still has the whole history."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1}
        for name in HISTORY_COLUMNS[1:]:
            value = metrics.get(name)
            row[name] = float(value) if value is not None else math.nan
        self.rows.append(row)
        figures = "  ".join(f"{name} {row[name]:.4f}" for name in HISTORY_COLUMNS[1:])
        log.info("epoch %d/%s  %s", row["epoch"], trainer.max_epochs, figures)

    def frame(self) -> pd.DataFrame:
        """The history as a frame with :data:`HISTORY_COLUMNS`."""
        return pd.DataFrame(self.rows, columns=HISTORY_COLUMNS)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(row) for row in state_dict["rows"]]


class EpochSeed(L.Callback):
    """Re-seeds the global RNGs (dropout, worker seeds) from ``(seed, epoch)`` at every epoch.

    Lightning checkpoints do not carry RNG states; making each epoch's randomness depend
    on its number only is what lets a run resumed at epoch N match an uninterrupted one.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed_everything(epoch_seed(self.seed, trainer.current_epoch), workers=True, verbose=False)


def epoch_seed(seed: int, epoch: int) -> int:
    """The global seed of epoch ``epoch`` (0-based) of a run seeded with ``seed``."""
    return (seed * 100_003 + epoch) % 2**32
