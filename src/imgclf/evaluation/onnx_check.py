"""The evaluate stage's check that the exported ONNX model answers like the PyTorch one."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from imgclf.data.split_reader import ImageArray
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.onnx_export import OnnxParityError, check_onnx_parity

log = logging.getLogger(__name__)


def onnx_max_abs_diff(
    classifier: InferenceClassifier, onnx_path: str | Path, images: ImageArray
) -> float:
    """The largest probability difference between ``onnx_path`` and ``classifier`` on
    ``images`` (read a batch at a time); raises :class:`OnnxParityError` beyond tolerance
    or when labels differ."""
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


def parity_bound(max_abs_diff: float) -> float:
    """The power of ten ``max_abs_diff`` stays under (0 stays 0): the figure ``metrics.json``
    records.

    onnxruntime's kernels follow the CPU they run on (its MLAS library has AVX-512 paths and
    no setting to cap them), so the exact difference changes from machine to machine even for
    the same weights, while ``metrics.json`` must not; the exact figure is in the stage's log.
    """
    if max_abs_diff <= 0:
        return 0.0
    return float(10.0 ** math.ceil(math.log10(max_abs_diff)))
