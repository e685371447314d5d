"""``fit`` on two CPU processes through Lightning's ``ddp`` strategy, run as a script.

Lightning's ``ddp`` launches every further rank by running this script again (as it
documents for scripts), so it must be a file, not a function inside a test. Each rank
writes the train sample indices it saw per epoch and what ``fit`` returned, as JSON in
the folder given on the command line (which already holds ``train.csv`` and ``val.csv``,
whose images are in the store at ``STORE_DIR``).

    python -m tests.support.ddp_fit FOLDER STORE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning.pytorch as L

from imgclf.config import Params, with_overrides
from imgclf.data.datamodule import ImageDataModule
from imgclf.data.schema import read_split
from imgclf.training.fit import fit

CLASSES = ["circle", "square", "triangle"]
EPOCHS = 2


class RecordShards(L.Callback):
    """Writes the train indices this rank's sampler hands out at each epoch."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sampler = trainer.train_dataloader.sampler
        indices = [index for index, _seed in sampler]
        name = f"shard-rank{trainer.global_rank}-epoch{trainer.current_epoch}.json"
        (self.folder / name).write_text(json.dumps(indices))


def main(folder: Path, store_dir: Path) -> None:
    params = with_overrides(
        Params(),
        {"train.accelerator": "cpu", "train.devices": 2, "train.strategy": "ddp",
         "train.max_epochs": EPOCHS, "train.patience": 100, "train.batch_size": 8,
         "train.num_threads": 1, "model.width": 8},
    )  # fmt: skip
    data = ImageDataModule(
        read_split(folder / "train.csv"),
        read_split(folder / "val.csv"),
        CLASSES,
        augment=None,
        batch_size=params.train.batch_size,
        seed=params.seed,
        store_dir=store_dir,
    )
    result = fit(
        params.model,
        params.train,
        data,
        seed=params.seed,
        callbacks=[RecordShards(folder)],
        checkpoint_dir=folder / "checkpoints",
        enable_progress_bar=False,
    )
    rank = result.module.global_rank
    (folder / f"result-rank{rank}.json").write_text(
        json.dumps(
            {
                "best_val_acc": result.best_val_acc,
                "epochs": len(result.history),
                "world_size": result.module.trainer.world_size,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
