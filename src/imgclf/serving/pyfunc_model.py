"""The MLflow pyfunc model, logged as *models from code*: MLflow stores this file's source
and runs it when the model is loaded, so no pickled object is ever deserialized.

Artifacts (from :func:`imgclf.serving.mlflow_model.log_image_model`): ``weights``
(safetensors) and ``config`` (spec + image settings); ``model_config["weights_sha256"]``
is checked before the weights are read.

Input: a DataFrame with an ``image`` column; each value is the base64 text of an image
file (PNG, JPEG, BMP, ... as ingest accepts) or a pixel array (H x W or H x W x C, 0..255),
within the ``limits`` of ``model.json`` (rows, encoded bytes, pixels per image); a request
over one is refused with HTTP 400 naming the limit, before any image is decoded.
Output: one row per image with ``label``, its ``probability`` and ``probabilities`` (one
per class, in ``spec.class_names`` order).

This file is a model script, not a library module: importing it registers the model
with :func:`mlflow.models.set_model`. A model registered by an earlier version runs its own
copy of this file, which imports the modules below by name: ``imgclf.serving.bundle``,
``.classifier`` and ``.limits`` and ``imgclf.errors`` keep their names and these functions
their signatures, or every registered champion stops loading.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from imgclf.errors import UserError
from imgclf.serving.bundle import load_bundle, load_limits
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.limits import ServingLimits

INPUT_COLUMN = "image"


class ImageClassifierModel(PythonModel):
    """Image files or pixel arrays in, labels and class probabilities out."""

    def load_context(self, context: PythonModelContext) -> None:
        expected = (context.model_config or {}).get("weights_sha256")
        if not expected:
            raise MlflowException("model_config has no weights_sha256: refusing unverified weights")
        self.classifier: InferenceClassifier = load_bundle(
            context.artifacts["weights"], context.artifacts["config"], expected
        )
        self.limits: ServingLimits = load_limits(context.artifacts["config"])

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        if INPUT_COLUMN not in model_input.columns:
            raise MlflowException(
                f"expected a column named {INPUT_COLUMN!r}", error_code=INVALID_PARAMETER_VALUE
            )
        try:
            self.limits.check_request(model_input[INPUT_COLUMN])
        except UserError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        images = []
        for row, value in enumerate(model_input[INPUT_COLUMN]):
            try:
                images.append(self.classifier.load_any(value, self.limits))
            except UserError as exc:
                raise MlflowException(
                    f"{INPUT_COLUMN}[{row}]: {exc}", error_code=INVALID_PARAMETER_VALUE
                ) from None
        if not images:
            return pd.DataFrame({"label": [], "probability": [], "probabilities": []})
        probs = self.classifier.probabilities(images)
        best = probs.argmax(axis=1)
        names = np.asarray(self.classifier.class_names, dtype=object)
        return pd.DataFrame(
            {
                "label": names[best].tolist(),
                "probability": probs[np.arange(len(best)), best].astype(float),
                "probabilities": [row.astype(float).tolist() for row in probs],
            }
        )


mlflow.models.set_model(ImageClassifierModel())
