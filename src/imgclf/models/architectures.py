"""``model.name`` -> network: the one place that knows every architecture."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch import nn

from imgclf.errors import ParamError
from imgclf.models.cnn import build_cnn
from imgclf.models.mlp import build_mlp
from imgclf.models.resnet import build_resnet
from imgclf.models.spec import ModelSpec
from imgclf.models.timm_net import build_timm, check_timm_architecture
from imgclf.models.vgg import build_vgg

Builder = Callable[[int, int, int, int, int, float], nn.Module]

BUILT_IN: dict[str, Builder] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "vgg": build_vgg,
    "resnet": build_resnet,
}

TIMM_PREFIX = "timm:"
AUTO = "auto"
AUTO_DEPTH = AUTO
MAX_AUTO_DEPTH = 6
AUTO_WIDTH = 32  # model.width auto up to AUTO_WIDTH_UP_TO px
AUTO_WIDTH_UP_TO = 32
MIN_AUTO_WIDTH = 8


def auto_depth(image_size: int) -> int:
    """``model.depth: auto``: one stage per halving of the image while the map is still 4+
    pixels, the rule by which the built-in networks pool (8 -> 2, 28 -> 3, 32 -> 4, 64 -> 5).

    A fixed depth sized for 8x8 digits leaves a 64x64 photo with a receptive field of a few
    pixels, and the model underfits; one sized for photos pools an 8x8 digit away.
    """
    depth, size = 0, image_size
    while size >= 4 and depth < MAX_AUTO_DEPTH:
        size //= 2
        depth += 1
    return max(depth, 1)


def auto_width(image_size: int) -> int:
    """``model.width: auto``: 32 channels for images up to 32 px, halved per doubling of the
    side above that, at least 8 (64 px -> 16, 128 px -> 8).

    A stage's cost grows with its pixels times its channels squared, so a 64 px photo at width
    32 costs 4x what it does at 16, and on 2 cores width 32 made one epoch of 2,400 such
    photos too slow for the study and training to fit in minutes (BENCHMARKS.md, "Photos at
    64 px"). Digits and Fashion-MNIST keep width 32.
    """
    width, size = AUTO_WIDTH, image_size
    while size > AUTO_WIDTH_UP_TO and width > MIN_AUTO_WIDTH:
        size //= 2
        width //= 2
    return width


def check_architecture(name: str) -> None:
    """Raise :class:`ParamError` unless ``name`` is a built-in network or ``timm:<name>``
    of an architecture timm has."""
    if name in BUILT_IN:
        return
    if re.fullmatch(rf"{TIMM_PREFIX}[\w.\-]+", name):
        check_timm_architecture(name.removeprefix(TIMM_PREFIX))
        return
    known = ", ".join([*BUILT_IN, f"{TIMM_PREFIX}<architecture>"])
    raise ParamError(f"model.name = {name!r}: expected one of {known}")


def build_network(spec: ModelSpec) -> nn.Module:
    """A freshly initialised network for ``spec``: (N, C, H, W) float in, logits out.

    Every network has a ``head`` attribute (the classifier layer) used by transfer learning.
    Its weights are laid out channels-last: oneDNN's and cuDNN's fast convolutions work in
    NHWC (measured 1.3x faster per step on CPU in float32, 2.5x in bf16). Training, loading
    and export all build through here, so they compute with the same kernels, bit for bit.
    """
    net: nn.Module
    if spec.arch.startswith(TIMM_PREFIX):
        net = build_timm(
            spec.arch.removeprefix(TIMM_PREFIX),
            spec.in_channels,
            spec.num_classes,
            spec.image_size,
            spec.dropout,
        )
    else:
        check_architecture(spec.arch)
        net = BUILT_IN[spec.arch](
            spec.in_channels,
            spec.num_classes,
            spec.image_size,
            spec.width,
            spec.depth,
            spec.dropout,
        )
    return net.to(memory_format=torch.channels_last)
