"""Weight initialisation schemes (``model.init``)."""

from __future__ import annotations

from torch import nn

_LAYERS = (nn.Conv2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def init_weights(network: nn.Module, scheme: str) -> None:
    """Re-initialise conv and linear layers in place: ``kaiming`` (He, for ReLU nets),
    ``xavier`` (Glorot) or ``default`` (leave PyTorch's or timm's own initialisation)."""
    if scheme == "default":
        return
    if scheme not in ("kaiming", "xavier"):
        raise ValueError(f"unknown init scheme {scheme!r}")
    for module in network.modules():
        if isinstance(module, _LAYERS):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
