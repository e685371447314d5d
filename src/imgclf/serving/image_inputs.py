"""How a served model turns what it is given into the canonical image ingest made: an
image file, the base64 text or bytes of one, or an array of pixel values.

All three end in :mod:`imgclf.data.images`, the one place pixels are decoded, with the
channels, size, resize policy and pixel limit the training images had.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.config import DataConfig
from imgclf.data.images import BadImageError, canonical_from_array, load_image
from imgclf.models.spec import ModelSpec


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

    def load_encoded(self, data: str | bytes) -> np.ndarray:
        """Base64 text of an image file (or its raw bytes) -> canonical uint8 array."""
        if isinstance(data, str):
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise BadImageError("not valid base64 text") from None
        # load_image reads files (and checks size, format, truncation), so the bytes go
        # through a temporary file: one decoding path for every image, whatever its source.
        with tempfile.NamedTemporaryFile(suffix=".img") as handle:
            handle.write(data)
            handle.flush()
            return self.load_file(handle.name)

    def load_array(self, pixels: Any) -> np.ndarray:
        """Pixel values (H x W or H x W x C, 0..255, any size) -> canonical uint8 array."""
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

    def load_any(self, value: Any) -> np.ndarray:
        """Base64 text or bytes of an image file, or a pixel array."""
        if isinstance(value, str | bytes):
            return self.load_encoded(value)
        return self.load_array(value)
