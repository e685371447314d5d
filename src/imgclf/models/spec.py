"""What a trained classifier needs besides its weights: the :class:`ModelSpec`.

The spec travels inside the checkpoint (as a plain dict, so ``torch.load(weights_only=True)``
reads it) and is everything evaluation and serving need to rebuild the network and to
prepare images exactly as training did (:func:`preprocess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and data facts of one classifier.

    ``mean`` and ``std`` are per channel, for pixels already scaled from 0..255 to 0..1.
    """

    arch: str
    width: int
    depth: int
    dropout: float
    in_channels: int
    num_classes: int
    image_size: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        # Lists arrive from JSON; tuples keep the spec hashable and immutable.
        for name in ("class_names", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError("mean and std need one value per input channel")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (lists for the tuples)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """The inverse of :meth:`to_dict`; unknown keys are ignored for forward compatibility."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images (NHW or NHWC) -> float32 NCHW tensor, scaled to 0..1 then standardized."""
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    return standardize(torch.from_numpy(np.ascontiguousarray(images)), mean, std)


def standardize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """A uint8 tensor of images (NHW or NHWC, on any device) -> float32 NCHW on that device,
    scaled to 0..1 then standardized: the arithmetic of :func:`normalize`, so a batch
    standardized after its transfer has the bits it would have had before."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images.unsqueeze(-1)
    if images.ndim != 4:
        raise ValueError(f"expected images shaped NHW or NHWC, got shape {tuple(images.shape)}")
    tensor = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t).contiguous()


def preprocess(images: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """Prepare uint8 images (NHW or NHWC) for ``spec``'s network exactly as training does."""
    channels = 1 if images.ndim == 3 else images.shape[-1]
    if channels != spec.in_channels or images.shape[1:3] != (spec.image_size, spec.image_size):
        raise ValueError(
            f"images of shape {images.shape[1:]} do not match the model's input "
            f"({spec.image_size}x{spec.image_size}, {spec.in_channels} channel(s))"
        )
    return normalize(images, spec.mean, spec.std)
