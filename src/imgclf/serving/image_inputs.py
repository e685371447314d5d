"""How a served model turns what it is given into the canonical image ingest made: an
image file, the base64 text or bytes of one, or an array of pixel values.

All three end in :mod:`imgclf.data.images`, the one place pixels are decoded, with the
channels, size, resize policy and pixel limit the training images had; a served model
also passes its :class:`~imgclf.serving.limits.ServingLimits`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.config import DataConfig
from imgclf.data.images import (
    BadImageError,
    canonical_from_array,
    decode_image,
    header_size,
    load_image,
)
from imgclf.models.spec import ModelSpec
from imgclf.serving.limits import ServingLimits, array_pixels, claimed_shape


@dataclass(frozen=True)
class ImageSettings:
    """How ingest turns any image into the canonical array (from ``data.*``)."""

    channels: int
    image_size: int
    resize: str = "stretch"
    max_image_pixels: int = 64_000_000

    @classmethod
    def from_data_config(cls, data: DataConfig) -> ImageSettings:
        return cls(data.channels, data.image_size, data.resize, data.max_image_pixels)

    @classmethod
    def for_spec(cls, spec: ModelSpec, data: DataConfig | None = None) -> ImageSettings:
        """The spec's channels and size, the resize policy and pixel limit of ``data``."""
        data = data or DataConfig()
        return cls(spec.in_channels, spec.image_size, data.resize, data.max_image_pixels)

    def load_file(self, path: str | Path) -> np.ndarray:
        """Any allowed image file -> canonical uint8 array; raises BadImageError."""
        return load_image(path, self.channels, self.image_size, self.resize, self.max_image_pixels)  # type: ignore[arg-type]

    def load_encoded(self, data: str | bytes, limits: ServingLimits | None = None) -> np.ndarray:
        """Base64 text of an image file (or its raw bytes) -> canonical uint8 array; an image
        over ``limits.max_pixels`` is refused from its header, before it is decoded."""
        if isinstance(data, str):
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise BadImageError("not valid base64 text") from None
        if limits is not None:
            limits.check_pixels(*header_size(data))
        return decode_image(
            data,
            self.channels,
            self.image_size,
            self.resize,  # type: ignore[arg-type]
            self.max_image_pixels,
        )

    def load_array(self, pixels: Any, limits: ServingLimits | None = None) -> np.ndarray:
        """Pixel values (H x W or H x W x C, 0..255) -> canonical uint8 array; an array over
        ``limits.max_pixels`` is refused from its shape, before it is converted."""
        if limits is not None:
            limits.check_pixels(*array_pixels(claimed_shape(pixels)))
        try:
            array = np.asarray(pixels, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadImageError("pixels must be a rectangular array of numbers") from None
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise BadImageError(f"expected pixels shaped HxW or HxWxC, got shape {array.shape}")
        if array.size == 0 or not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
            raise BadImageError("pixel values must be finite numbers in 0..255")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        return canonical_from_array(
            array.round().astype(np.uint8),
            self.channels,
            self.image_size,
            self.resize,  # type: ignore[arg-type]
        )

    def load_any(self, value: Any, limits: ServingLimits | None = None) -> np.ndarray:
        """Base64 text or bytes of an image file, or a pixel array, within ``limits``."""
        if isinstance(value, str | bytes):
            return self.load_encoded(value, limits)
        return self.load_array(value, limits)
