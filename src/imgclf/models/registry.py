"""``model.name`` -> network: the one place that knows every architecture."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from imgclf.errors import ConfigError
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
    builder = BUILT_IN.get(spec.arch)
    if builder is None:
        known = ", ".join([*BUILT_IN, "timm:<name>"])
        raise ConfigError(f"params.yaml: model.name = {spec.arch!r}: expected one of {known}")
    return builder(
        spec.in_channels, spec.num_classes, spec.image_size, spec.width, spec.depth, spec.dropout
    )
