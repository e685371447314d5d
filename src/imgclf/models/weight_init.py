"""Weight initialisation schemes (``model.init``)."""

from __future__ import annotations

from torch import nn

_LAYERS = (nn.Conv2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def init_weights(network: nn.Module, scheme: str) -> None:
    """Re-initialise conv and linear layers in place: ``kaiming`` (He, for ReLU nets),
    ``xavier`` (Glorot) or ``default`` (leave PyTorch's or timm's own initialisation).

    ``kaiming`` scales convolutions by their fan-out, as torchvision's ResNets do, hidden
    linear layers by their fan-in, and the classifier head (the last linear layer) to
    N(0, 0.01), as torchvision's VGG heads, so every class starts near 1/K. By fan-out, a
    10-class head over 256 features started with logits about 7x too large, and a CNN on
    64 px photos stayed near chance for most of its epochs (BENCHMARKS.md, "Photos at 64 px").
    """
    if scheme == "default":
        return
    if scheme not in ("kaiming", "xavier"):
        raise ValueError(f"unknown init scheme {scheme!r}")
    for module in network.modules():
        if isinstance(module, _LAYERS):
            if scheme == "kaiming" and isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    heads = [module for module in network.modules() if isinstance(module, nn.Linear)]
    if scheme == "kaiming" and heads:
        nn.init.normal_(heads[-1].weight, std=0.01)
