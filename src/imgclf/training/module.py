"""The LightningModule: what to compute (loss, metrics, optimizers), not where data
comes from (:mod:`imgclf.data.datamodule`) nor what the network is: the network is built
(and initialised, fetched for ``model.init_from``) outside and handed in, as
:func:`imgclf.training.network.initial_network` does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from lightning.pytorch.strategies import Strategy
from torch import nn

from imgclf.config import ModelConfig, TrainConfig
from imgclf.models.spec import ModelSpec
from imgclf.models.transfer import freeze_batchnorm_statistics
from imgclf.training.optim import build_optimizer, build_scheduler

PHASES = ("train", "val", "test")


@dataclass
class EpochTotals:
    """Loss and correct predictions summed over one epoch's batches, kept on the device."""

    loss: torch.Tensor = field(default_factory=lambda: torch.tensor(0.0))
    correct: torch.Tensor = field(default_factory=lambda: torch.tensor(0))
    images: int = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        self.loss = self.loss.to(loss.device) + loss.float() * len(labels)
        self.correct = self.correct.to(labels.device) + (logits.argmax(dim=1) == labels).sum()
        self.images += len(labels)

    def summed(self, strategy: Strategy) -> EpochTotals:
        """These totals summed over every DDP process (each saw its own shard)."""
        local = torch.stack(
            [self.loss.double(), self.correct.double(), torch.tensor(float(self.images))]
        )
        counts = strategy.reduce(local.to(self.loss.device), reduce_op="sum")
        return EpochTotals(counts[0].float(), counts[1].long(), int(counts[2].item()))

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and accuracy (NaN before any batch)."""
        images = self.images or float("nan")
        return self.loss / images, self.correct.float() / images


class ClassifierModule(L.LightningModule):
    """Cross-entropy classification of ``spec``'s images by ``net``.

    Logs per epoch ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (and ``test_*``).
    Hyper-parameters are plain dicts (the network is left out: its weights are the state
    dict), so checkpoints load with ``weights_only=True``.
    """

    def __init__(
        self,
        net: nn.Module,
        spec: dict[str, Any],
        model: dict[str, Any],
        train: dict[str, Any],
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.spec = ModelSpec.from_dict(spec)
        self.model_cfg = ModelConfig.model_validate(model)
        self.train_cfg = TrainConfig.model_validate(train)
        self.net = net
        # One running total per phase (their states must never mix), added to every step and
        # logged once per epoch: per-step self.log calls and torchmetrics updates cost a third
        # of a digits step (BENCHMARKS.md, "Training: Lightning against a plain PyTorch loop").
        self.totals = {phase: EpochTotals() for phase in PHASES}

    @classmethod
    def create(
        cls, net: nn.Module, spec: ModelSpec, model_cfg: ModelConfig, train_cfg: TrainConfig
    ) -> ClassifierModule:
        """Wrap ``net`` with typed objects (stored as plain dicts in the hyper-parameters)."""
        return cls(
            net,
            spec.to_dict(),
            model_cfg.model_dump(mode="json"),
            train_cfg.model_dump(mode="json"),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def on_train_epoch_start(self) -> None:
        if self.model_cfg.freeze_backbone:
            freeze_batchnorm_statistics(self.net)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, labels = batch
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.train_cfg.label_smoothing)
        self._update("train", logits.detach(), labels, loss.detach())
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        # The epoch's train figures go out with its val figures: one logger flush per epoch
        # (each costs MLflow a store write), and the callbacks that read both (the epoch
        # history, checkpoints, early stopping) run after validation, before
        # on_train_epoch_end.
        if self.totals["train"].images:
            self._log_epoch("train")
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def _evaluate(self, batch: tuple[torch.Tensor, torch.Tensor], phase: str) -> None:
        images, labels = batch
        logits = self.net(images)
        self._update(phase, logits, labels, F.cross_entropy(logits, labels))

    def _update(
        self, phase: str, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor
    ) -> None:
        self.totals[phase].add(logits, labels, loss)

    def _log_epoch(self, phase: str) -> None:
        """``<phase>_loss`` and ``<phase>_acc`` of the epoch over the images every DDP
        process saw (each validates its own shard of the val split)."""
        totals, self.totals[phase] = self.totals[phase], EpochTotals()
        if self._trainer is not None and self.trainer.world_size > 1:
            totals = totals.summed(self.trainer.strategy)
        loss, accuracy = totals.means()
        self.log(f"{phase}_loss", loss, prog_bar=phase != "train", sync_dist=True)
        self.log(f"{phase}_acc", accuracy, prog_bar=phase != "train", sync_dist=True)

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.net.parameters(), self.train_cfg)
        scheduler = build_scheduler(
            optimizer, self.train_cfg, int(self.trainer.estimated_stepping_batches)
        )
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
