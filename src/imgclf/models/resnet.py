"""``resnet``: basic residual blocks behind a small-image stem (3x3 conv, no early pooling)."""

from __future__ import annotations

import torch
from torch import nn

from imgclf.models.backbone_head import Classifier, linear_head, pooled_features
from imgclf.models.cnn import conv_bn_relu, stage_channels


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def build_resnet(
    in_channels: int, num_classes: int, image_size: int, width: int, depth: int, dropout: float
) -> Classifier:
    """A stem, then ``depth`` residual blocks; every block after the first halves the
    map (stride 2) while it is still 4+ pixels."""
    layers: list[nn.Module] = [conv_bn_relu(in_channels, width)]
    channels, size = width, image_size
    for stage in range(depth):
        out = stage_channels(width, stage)
        stride = 2 if stage > 0 and size >= 4 else 1
        layers.append(BasicBlock(channels, out, stride))
        size = (size + stride - 1) // stride
        channels = out
    layers.append(pooled_features())
    return Classifier(nn.Sequential(*layers), linear_head(channels, num_classes, dropout))
