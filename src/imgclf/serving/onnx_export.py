"""ONNX export of a trained classifier, and the parity check that trusts it.

The exported graph takes the *preprocessed* float32 NCHW batch (``spec.preprocess``) as
``images`` and returns softmax ``probabilities``; the :class:`ModelSpec` rides along in the
ONNX metadata (``imgclf.spec``), so the file alone is enough to classify images.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from imgclf.atomic import atomic_path
from imgclf.models.inference import (
    INFERENCE_BATCH,
    Images,
    image_batches,
    inference_batch_size,
    torch_probabilities,
)
from imgclf.models.spec import ModelSpec, preprocess

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
SPEC_KEY = "imgclf.spec"
OPSET = 17
PARITY_ATOL = 1e-4


class OnnxParityError(AssertionError):
    """The ONNX graph disagrees with the PyTorch model it was exported from (a bug)."""


@dataclass(frozen=True)
class ParityReport:
    """How far the ONNX probabilities are from PyTorch's on the same images."""

    n_images: int
    max_abs_diff: float
    labels_equal: bool

    @property
    def ok(self) -> bool:
        return self.labels_equal and self.max_abs_diff <= PARITY_ATOL


def export_onnx(net: nn.Module, spec: ModelSpec, path: str | Path) -> Path:
    """Write ``net`` (logits) with a softmax head to ``path`` as ONNX, batch size dynamic,
    with ``spec`` in its metadata. Returns ``path``."""
    path = Path(path)
    model = nn.Sequential(net, nn.Softmax(dim=1)).eval()
    example = torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # torch's default exporter (dynamo) needs onnxscript, which we do not ship; the
        # TorchScript exporter handles these small static-shape networks exactly.
        warnings.simplefilter("ignore", DeprecationWarning)
        # No constant folding: it folds each BatchNorm into its convolution's weights with
        # torch's own kernels, whose square root follows the CPU (an EPYC and an emulated
        # Haswell wrote other bytes from the same checkpoint). Unfolded, the file holds the
        # checkpoint's tensors as they are, and onnxruntime does the folding when it loads.
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=False,
            dynamo=False,
        )
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, {SPEC_KEY: json.dumps(spec.to_dict())})
        onnx.checker.check_model(graph)
        onnx.save(graph, str(tmp))
    return path


@dataclass
class OnnxClassifier:
    """An onnxruntime session plus the spec read from the file's metadata."""

    session: ort.InferenceSession
    spec: ModelSpec

    def probabilities(self, images: Images, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """uint8 canonical images (NHW or NHWC) -> N x C probabilities, a batch at a time
        (:func:`inference_batch_size`): the activations of 10,000 Fashion-MNIST images at
        once took over a GiB."""
        chunks = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: preprocess(batch, self.spec).numpy()})[0]
            for batch in image_batches(images, inference_batch_size(images, batch_size))
        ]
        return (
            np.concatenate(chunks) if chunks else np.zeros((0, self.spec.num_classes), np.float32)
        )


def load_onnx(path: str | Path) -> OnnxClassifier:
    """Open an ONNX file written by :func:`export_onnx` with onnxruntime (CPU)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    if SPEC_KEY not in props:
        raise ValueError(f"{path}: no '{SPEC_KEY}' metadata; it was not written by export_onnx")
    return OnnxClassifier(session, ModelSpec.from_dict(json.loads(props[SPEC_KEY])))


def check_onnx_parity(
    net: nn.Module, spec: ModelSpec, onnx_path: str | Path, images: Images
) -> ParityReport:
    """Compare PyTorch and onnxruntime probabilities on ``images`` (uint8, NHW or NHWC), one
    batch of images at a time, so a whole split is never held."""
    onnx_model = load_onnx(onnx_path)
    size = inference_batch_size(images)
    diff, labels_equal = 0.0, True
    for batch in image_batches(images, size):
        expected = torch_probabilities(net, spec, batch, size)
        actual = onnx_model.probabilities(batch, size)
        diff = max(diff, float(np.max(np.abs(expected - actual))))
        labels_equal &= bool(np.array_equal(expected.argmax(axis=1), actual.argmax(axis=1)))
    return ParityReport(n_images=len(images), max_abs_diff=diff, labels_equal=labels_equal)
