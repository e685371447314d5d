"""``mlp``: flattened pixels through ``depth`` hidden layers of ``width`` units."""

from __future__ import annotations

from torch import nn

from imgclf.models.backbone_head import Classifier, linear_head


def build_mlp(
    in_channels: int, num_classes: int, image_size: int, width: int, depth: int, dropout: float
) -> Classifier:
    """Linear-BatchNorm-ReLU layers on the flattened image."""
    layers: list[nn.Module] = [nn.Flatten()]
    features = in_channels * image_size * image_size
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        features = width
    return Classifier(nn.Sequential(*layers), linear_head(features, num_classes, dropout))
