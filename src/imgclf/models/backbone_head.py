"""The shape every built-in network shares: a feature ``backbone`` and a ``head``.

Keeping the head a named attribute is what makes ``model.freeze_backbone`` and
``model.init_from`` (which skips a head of another size) simple.
"""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """``head(backbone(x))``: images (N, C, H, W) in, logits (N, classes) out."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def linear_head(features: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Dropout then one linear layer to the class logits."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))


def pooled_features() -> nn.Sequential:
    """Global average pooling to one vector per image, whatever the spatial size."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
