"""A trained network plus everything needed to classify an image *file* exactly as the
training images were prepared: the one inference path of ``imgclf predict``, the evaluate
stage and the MLflow model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from imgclf.models.inference import Images, torch_probabilities
from imgclf.models.spec import ModelSpec
from imgclf.serving.image_inputs import ImageSettings
from imgclf.serving.limits import ServingLimits


@dataclass(frozen=True)
class InferenceClassifier:
    """A network in eval mode, its spec, and the image preparation it was trained with."""

    net: nn.Module
    spec: ModelSpec
    settings: ImageSettings

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    def load_file(self, path: str | Path) -> np.ndarray:
        return self.settings.load_file(path)

    def load_any(self, value: Any, limits: ServingLimits | None = None) -> np.ndarray:
        return self.settings.load_any(value, limits)

    def probabilities(self, images: Images) -> np.ndarray:
        """Canonical uint8 images (an array, a store view or a list of images) -> N x C class
        probabilities, read and run a batch at a time."""
        return torch_probabilities(self.net, self.spec, images)
