"""``train.optimizer`` and ``train.scheduler`` -> what ``configure_optimizers`` returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from imgclf.config import TrainConfig


def build_optimizer(parameters: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov), Adam or AdamW over the trainable ``parameters``."""
    trainable = [p for p in parameters if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            trainable,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    # Adam's fused kernel (one ATen kernel for the whole update, CPU and CUDA): besides being
    # faster, it takes its square roots from ATen's own vectorised code. The per-tensor
    # update's sqrt goes to MKL's vector math, whose result followed the CPU even under
    # MKL_CBWR=COMPATIBLE (an AVX-512 Xeon against an emulated AVX2 EPYC), so `numerics:
    # portable` could not give the same weights on both.
    if cfg.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> dict[str, Any] | None:
    """Lightning's ``lr_scheduler`` config dict, or None for ``scheduler: none``.

    ``cosine`` and ``onecycle`` move every optimizer step over ``total_steps`` (Lightning's
    ``estimated_stepping_batches``, so a shorter tuning run still anneals fully); ``step``
    decays by ``gamma`` every ``step_size`` epochs.
    """
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler == "cosine":
        scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(total_steps, 1)
        )
        interval = "step"
    elif cfg.scheduler == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=max(total_steps, 1)
        )
        interval = "step"
    elif cfg.scheduler == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=cfg.step_size, gamma=cfg.gamma
        )
        interval = "epoch"
    else:
        raise ValueError(f"unknown scheduler {cfg.scheduler!r}")
    return {"scheduler": scheduler, "interval": interval, "frequency": 1}
