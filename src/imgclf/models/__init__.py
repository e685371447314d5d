"""The model zoo: small-image networks (mlp, cnn, vgg, resnet) and any timm architecture."""

from imgclf.models.architectures import build_network
from imgclf.models.spec import ModelSpec, preprocess

__all__ = ["ModelSpec", "build_network", "preprocess"]
