"""``cnn``: ``depth`` stages, each doubling the channels and halving the size: one
conv-BN-ReLU at full resolution, then two per stage.

The second convolution per stage is what lets the net fit 28x28 and larger images
(Fashion-MNIST: 0.93 test accuracy in 12 epochs, against about 0.91 with one); keeping the
first stage to one convolution keeps the full-resolution stage, the costliest, cheap.
"""

from __future__ import annotations

from torch import nn

from imgclf.models.backbone_head import Classifier, linear_head, pooled_features

MAX_WIDTH_FACTOR = 8  # channels stop doubling at 8x width, so depth 8 stays affordable


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """A 3x3 convolution (same size), batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def stage_channels(width: int, stage: int) -> int:
    """Channels of stage ``stage`` (0-based): ``width`` doubled per stage, capped."""
    return width * min(2**stage, MAX_WIDTH_FACTOR)


def build_cnn(
    in_channels: int, num_classes: int, image_size: int, width: int, depth: int, dropout: float
) -> Classifier:
    """One conv-BN-ReLU in the first stage, two in each later one (see ``build_conv_stages``)."""
    convs = [1] + [2] * (depth - 1)
    return build_conv_stages(in_channels, num_classes, image_size, width, convs, dropout)


def build_conv_stages(
    in_channels: int,
    num_classes: int,
    image_size: int,
    width: int,
    convs_per_stage: list[int],
    dropout: float,
) -> Classifier:
    """One stage per entry of ``convs_per_stage``, of that many conv-BN-ReLU layers;
    max-pooling after a stage while the map is still 4+ pixels, so an 8x8 digit is never
    pooled away; global average pooling before the head."""
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for stage, convs in enumerate(convs_per_stage):
        out = stage_channels(width, stage)
        layers.append(conv_bn_relu(channels, out))
        layers += [conv_bn_relu(out, out) for _ in range(convs - 1)]
        if size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels = out
    layers.append(pooled_features())
    return Classifier(nn.Sequential(*layers), linear_head(channels, num_classes, dropout))
