"""``timm:<name>``: any timm architecture, randomly initialised, sized to the data.

No pretrained weights are downloaded (the stages run offline); transfer learning goes
through ``model.init_from`` with a local checkpoint or an MLflow model URI instead.
"""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

from imgclf.errors import ParamError


class TimmClassifier(nn.Module):
    """A timm model with the same ``head`` attribute as the built-in networks."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def head(self) -> nn.Module:
        """timm's own notion of the classifier layer."""
        head = self.model.get_classifier()  # type: ignore[operator]  # timm API, not nn.Module
        assert isinstance(head, nn.Module)
        return head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def check_timm_architecture(name: str) -> None:
    """Raise :class:`ParamError` unless timm has the architecture ``name`` (its own list,
    nothing downloaded)."""
    if name not in timm.list_models():
        raise ParamError(
            f"model.name = 'timm:{name}': timm has no such architecture; see timm.list_models()"
        )


def build_timm(
    name: str, in_channels: int, num_classes: int, image_size: int, dropout: float
) -> TimmClassifier:
    """``timm.create_model(name, pretrained=False)`` sized to the data's channels and classes."""
    check_timm_architecture(name)
    kwargs: dict[str, Any] = {
        "pretrained": False,
        "in_chans": in_channels,
        "num_classes": num_classes,
        "drop_rate": dropout,
    }
    try:
        # Transformers and some hybrids need the input size at construction.
        model = timm.create_model(name, img_size=image_size, **kwargs)
    except TypeError:
        # Convolutional timm models take any size and reject the keyword.
        model = timm.create_model(name, **kwargs)
    return TimmClassifier(model)
