"""``vgg``: VGG-style stages of two 3x3 conv-BN-ReLU layers followed by max-pooling."""

from __future__ import annotations

from imgclf.models.backbone_head import Classifier
from imgclf.models.cnn import build_conv_stages


def build_vgg(
    in_channels: int, num_classes: int, image_size: int, width: int, depth: int, dropout: float
) -> Classifier:
    """``depth`` stages of two convolutions each; pooled while the map is 4+ pixels."""
    return build_conv_stages(in_channels, num_classes, image_size, width, [2] * depth, dropout)
