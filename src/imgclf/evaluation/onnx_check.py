"""The evaluate stage's check that the exported ONNX model answers like the PyTorch one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.onnx_export import OnnxParityError, check_onnx_parity

log = logging.getLogger(__name__)


def onnx_max_abs_diff(
    classifier: InferenceClassifier, onnx_path: str | Path, images: np.ndarray
) -> float:
    """The largest probability difference between ``onnx_path`` and ``classifier`` on
    ``images``; raises :class:`OnnxParityError` beyond tolerance or when labels differ."""
    report = check_onnx_parity(classifier.net, classifier.spec, onnx_path, images)
    log.info(
        "ONNX parity on %d test images: max |dp| = %.2e, labels equal: %s",
        report.n_images,
        report.max_abs_diff,
        report.labels_equal,
    )
    if not report.ok:
        raise OnnxParityError(f"{onnx_path}: {report}")
    return report.max_abs_diff
