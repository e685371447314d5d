"""``model.name`` -> network: the one place that knows every architecture."""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn

from imgclf.errors import ParamError
from imgclf.models.cnn import build_cnn
from imgclf.models.mlp import build_mlp
from imgclf.models.resnet import build_resnet
from imgclf.models.spec import ModelSpec
from imgclf.models.timm_net import build_timm
from imgclf.models.vgg import build_vgg

Builder = Callable[[int, int, int, int, int, float], nn.Module]

BUILT_IN: dict[str, Builder] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "vgg": build_vgg,
    "resnet": build_resnet,
}

TIMM_PREFIX = "timm:"


def check_architecture(name: str) -> None:
    """Raise :class:`ParamError` unless ``name`` is a built-in network or ``timm:<name>``.

    Whether timm has that architecture is checked when the network is built.
    """
    if name in BUILT_IN or re.fullmatch(rf"{TIMM_PREFIX}[\w.\-]+", name):
        return
    known = ", ".join([*BUILT_IN, f"{TIMM_PREFIX}<architecture>"])
    raise ParamError(f"model.name = {name!r}: expected one of {known}")


def build_network(spec: ModelSpec) -> nn.Module:
    """A freshly initialised network for ``spec``: (N, C, H, W) float in, logits out.

    Every network has a ``head`` attribute (the classifier layer) used by transfer learning.
    """
    if spec.arch.startswith(TIMM_PREFIX):
        return build_timm(
            spec.arch.removeprefix(TIMM_PREFIX),
            spec.in_channels,
            spec.num_classes,
            spec.image_size,
            spec.dropout,
        )
    check_architecture(spec.arch)
    return BUILT_IN[spec.arch](
        spec.in_channels, spec.num_classes, spec.image_size, spec.width, spec.depth, spec.dropout
    )
