"""A trained network plus everything needed to classify an image *file* exactly as the
training images were prepared: the one inference path of ``imgclf predict`` and the
MLflow model.

A model bundle is two files in one folder: ``weights.safetensors`` (the state dict; the
safetensors format holds tensors only, so loading it cannot run code) and ``model.json``
(the :class:`ModelSpec` and the :class:`ImageSettings` of ingest). The weights' SHA-256 is
recorded when the bundle is logged and checked before the weights are read.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from imgclf.config import DataConfig
from imgclf.data.images import BadImageError, canonical_from_array, load_image
from imgclf.errors import StaleArtifactError
from imgclf.models import build_network
from imgclf.models.spec import ModelSpec
from imgclf.serving.onnx_export import torch_probabilities
from imgclf.tracking import file_sha256

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "model.json"


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


@dataclass(frozen=True)
class ImageClassifier:
    """A network in eval mode, its spec, and the image preparation it was trained with."""

    net: nn.Module
    spec: ModelSpec
    settings: ImageSettings

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    def load_file(self, path: str | Path) -> np.ndarray:
        return self.settings.load_file(path)

    def load_any(self, value: Any) -> np.ndarray:
        return self.settings.load_any(value)

    def probabilities(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Canonical uint8 images -> N x C class probabilities."""
        return torch_probabilities(self.net, self.spec, np.stack(list(images)))


def save_bundle(classifier: ImageClassifier, folder: str | Path) -> str:
    """Write the bundle files into ``folder`` (created); return the weights' SHA-256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Clones: safetensors refuses tensors that share memory (tied or viewed parameters).
    state = {
        key: value.detach().cpu().contiguous().clone()
        for key, value in classifier.net.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS_FILE))
    config = {"spec": classifier.spec.to_dict(), "image": asdict(classifier.settings)}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return file_sha256(folder / WEIGHTS_FILE)


def load_bundle(
    weights: str | Path, config: str | Path, expected_sha256: str | None
) -> ImageClassifier:
    """Rebuild the classifier from bundle files, refusing weights whose SHA-256 differs
    from ``expected_sha256`` (when given)."""
    if expected_sha256 is not None:
        actual = file_sha256(weights)
        if actual != expected_sha256:
            raise StaleArtifactError(
                f"{weights}: SHA-256 {actual} differs from the recorded {expected_sha256}; "
                "the weights were changed after the model was logged, refusing to load them"
            )
    document = json.loads(Path(config).read_text(encoding="utf-8"))
    spec = ModelSpec.from_dict(document["spec"])
    net = build_network(spec)
    net.load_state_dict(load_file(str(weights)))
    net.eval()
    return ImageClassifier(net, spec, ImageSettings(**document["image"]))
