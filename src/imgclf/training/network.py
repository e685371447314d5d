"""The network a fit starts from: built for the spec, initialised by ``model.init``, and for
transfer learning loaded from ``model.init_from`` (a file or an MLflow download) with its
backbone frozen by ``model.freeze_backbone``.

This runs before the LightningModule exists, so the module only computes and the
download happens where the caller decides, once per fit.
"""

from __future__ import annotations

from torch import nn

from imgclf.config import ModelConfig
from imgclf.models.architectures import build_network
from imgclf.models.spec import ModelSpec
from imgclf.models.transfer import freeze_backbone, load_pretrained
from imgclf.models.weight_init import init_weights


def initial_network(spec: ModelSpec, model_cfg: ModelConfig) -> nn.Module:
    """A network for ``spec``, initialised as ``model_cfg`` says, ready to train."""
    net = build_network(spec)
    init_weights(net, model_cfg.init)
    if model_cfg.init_from:
        load_pretrained(net, model_cfg.init_from)
    if model_cfg.freeze_backbone:
        freeze_backbone(net)
    return net
