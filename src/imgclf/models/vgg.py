"""``vgg``: VGG-style stages of two 3x3 conv-BN-ReLU layers followed by max-pooling."""

from __future__ import annotations

from torch import nn

from imgclf.models.classifier import Classifier, linear_head, pooled_features
from imgclf.models.cnn import conv_bn_relu, stage_channels


def build_vgg(
    in_channels: int, num_classes: int, image_size: int, width: int, depth: int, dropout: float
) -> Classifier:
    """``depth`` stages of two convolutions each; pooled while the map is 4+ pixels."""
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for stage in range(depth):
        out = stage_channels(width, stage)
        layers += [conv_bn_relu(channels, out), conv_bn_relu(out, out)]
        if size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels = out
    layers.append(pooled_features())
    return Classifier(nn.Sequential(*layers), linear_head(channels, num_classes, dropout))
