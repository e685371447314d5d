"""What one request to the served model may cost: its bytes, its rows, each image's pixels.

The limits travel in the model's ``model.json`` (so the model carries them wherever it is
served) and are checked before anything is decoded: image sizes from the file header,
pixel arrays from their shape. MLflow's scoring server has no request-size setting of its
own (it reads the whole body before the model sees it), so a proxy in front of it is the
place to bound the raw HTTP body; these limits bound what the model spends on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from imgclf.errors import UserError

LIMITS_KEY = "limits"  # the section of model.json


class LimitExceededError(UserError):
    """A request broke one of the serving limits; the message names it."""


@dataclass(frozen=True)
class ServingLimits:
    """Per-request limits of the served model (``model.json`` ``limits``)."""

    # Base64 text of every image file in one request, together.
    max_request_bytes: int = 16 * 1024 * 1024
    max_rows: int = 256
    # 2,097,152 pixels: a 1920x1080 photo fits; a 6000x6000 image or a 1x4,000,000 array
    # (each hundreds of MB once decoded or parsed to floats) does not.
    max_pixels: int = 2048 * 1024

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any] | None) -> ServingLimits:
        """The limits in ``document`` (a model.json section); defaults for missing keys."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: int(value) for key, value in (document or {}).items() if key in known})

    def check_request(self, values: Iterable[Any]) -> None:
        """Refuse a request with too many rows or too many bytes of encoded images."""
        values = list(values)
        if len(values) > self.max_rows:
            raise LimitExceededError(
                f"{len(values)} rows in one request, more than the serving limit "
                f"max_rows = {self.max_rows}; send fewer images per request"
            )
        encoded = sum(len(value) for value in values if isinstance(value, str | bytes))
        if encoded > self.max_request_bytes:
            raise LimitExceededError(
                f"{encoded:,} bytes of encoded images in one request, more than the serving "
                f"limit max_request_bytes = {self.max_request_bytes:,}; send fewer or smaller "
                "images"
            )

    def check_pixels(self, width: int, height: int) -> None:
        """Refuse one image (from its header or its array shape) over ``max_pixels``."""
        if width * height > self.max_pixels:
            raise LimitExceededError(
                f"{width}x{height} = {width * height:,} pixels, more than the serving limit "
                f"max_pixels = {self.max_pixels:,}; send a smaller image"
            )


def claimed_shape(pixels: Any) -> tuple[int, ...]:
    """The shape a nested list (or array) of pixel values claims, read from the lengths of
    its first elements only, so a huge array is judged before it is converted."""
    shape = getattr(pixels, "shape", None)
    if shape is not None:
        return tuple(int(size) for size in shape)
    dims = []
    while isinstance(pixels, list | tuple):
        dims.append(len(pixels))
        pixels = pixels[0] if pixels else None
    return tuple(dims)


def array_pixels(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) of an HxW or HxWxC shape; a flat list counts as one row."""
    if len(shape) >= 2:
        return shape[1], shape[0]
    return (math.prod(shape), 1)
