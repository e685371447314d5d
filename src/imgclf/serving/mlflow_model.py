"""Logging the classifier as an MLflow pyfunc model (models from code, no pickle) that
carries imgclf's code and pinned requirements, so it loads where imgclf is not installed."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Schema

from imgclf.data.images import encode_png
from imgclf.serving.bundle import CONFIG_FILE, WEIGHTS_FILE, save_bundle
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.limits import ServingLimits
from imgclf.serving.pyfunc_model import INPUT_COLUMN

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
WEIGHTS_SHA_TAG = "imgclf.weights_sha256"

# ``image`` holds either base64 text of an image file or a nested list of pixel values, so
# its column type is MLflow's AnyType (a string type would reject the arrays).
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(AnyType(), INPUT_COLUMN)]),
    outputs=Schema(
        [
            ColSpec(DataType.string, "label"),
            ColSpec(DataType.double, "probability"),
            ColSpec(Array(DataType.double), "probabilities"),
        ]
    ),
)

# imgclf's own code travels inside the logged model (MLflow's ``code_paths``): the whole
# package, so the model loads and serves where imgclf is not installed.
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# The distributions whose modules loading and predicting import (with the model's copy of
# imgclf), pinned to the installed versions; pip resolves their own dependencies.
# torchvision is pinned too because timm imports it and each torchvision fits one torch.
# Listed rather than inferred (MLflow's default), which loads the model in a subprocess
# at every logging.
SERVING_DISTRIBUTIONS = (
    "mlflow",
    "torch",
    "torchvision",
    "timm",
    "safetensors",
    "onnx",
    "onnxruntime",
    "numpy",
    "pandas",
    "pillow",
    "pydantic",
    "pyyaml",
)


def pinned_requirements() -> list[str]:
    """``name==version`` for each of :data:`SERVING_DISTRIBUTIONS`, as installed here; a
    local label (``2.14.1+cpu``) is dropped, so the pin installs from PyPI and still
    matches the wheel of another index."""
    return [f"{name}=={version(name).partition('+')[0]}" for name in SERVING_DISTRIBUTIONS]


@dataclass(frozen=True)
class LoggedImageModel:
    info: ModelInfo
    weights_sha256: str


def encode_image_file(pixels: np.ndarray) -> str:
    """A canonical uint8 image as base64 text of its PNG file (the serving input)."""
    return base64.b64encode(encode_png(pixels)).decode("ascii")


def log_image_model(
    classifier: InferenceClassifier,
    example: np.ndarray,
    name: str = "model",
    limits: ServingLimits | None = None,
) -> LoggedImageModel:
    """Log ``classifier`` to the active MLflow run as a pyfunc model named ``name``, with its
    signature, ``example`` (one canonical image) as input example, the weights' SHA-256
    in its model config and metadata, and ``limits`` (default: :class:`ServingLimits`);
    the imgclf package and :func:`pinned_requirements` travel with it."""
    with tempfile.TemporaryDirectory(prefix="imgclf-model-") as folder:
        sha = save_bundle(classifier, folder, limits)
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={
                "weights": str(Path(folder) / WEIGHTS_FILE),
                "config": str(Path(folder) / CONFIG_FILE),
            },
            model_config={"weights_sha256": sha},
            metadata={WEIGHTS_SHA_TAG: sha},
            signature=SIGNATURE,
            input_example=pd.DataFrame({INPUT_COLUMN: [encode_image_file(example)]}),
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=pinned_requirements(),
        )
    return LoggedImageModel(info=info, weights_sha256=sha)
