"""The LightningModule: what to compute (loss, metrics, optimizers), not where data
comes from (:mod:`imgclf.data.datamodule`) nor what the network is: the network is built
(and initialised, fetched for ``model.init_from``) outside and handed in, as
:func:`imgclf.training.network.initial_network` does."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from imgclf.config import ModelConfig, TrainConfig
from imgclf.models.spec import ModelSpec
from imgclf.models.transfer import freeze_batchnorm_statistics
from imgclf.training.optim import build_optimizer, build_scheduler


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
        classes = self.spec.num_classes
        # One metric object per phase: their running states must never mix.
        self.train_acc = MulticlassAccuracy(classes, average="micro")
        self.val_acc = MulticlassAccuracy(classes, average="micro")
        self.test_acc = MulticlassAccuracy(classes, average="micro")

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
        self.train_acc(logits, labels)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)

    def _evaluate(
        self, batch: tuple[torch.Tensor, torch.Tensor], phase: str, metric: MulticlassAccuracy
    ) -> None:
        images, labels = batch
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        self.log(f"{phase}_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)
        metric(logits, labels)
        self.log(f"{phase}_acc", metric, on_epoch=True, prog_bar=True)

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.net.parameters(), self.train_cfg)
        scheduler = build_scheduler(
            optimizer, self.train_cfg, int(self.trainer.estimated_stepping_batches)
        )
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
