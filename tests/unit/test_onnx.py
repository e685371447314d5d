"""ONNX export: same probabilities and labels as PyTorch, spec carried in the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from imgclf.models.inference import torch_probabilities
from imgclf.models.spec import ModelSpec
from imgclf.serving.onnx_export import PARITY_ATOL, check_onnx_parity, export_onnx, load_onnx


@pytest.fixture
def spec() -> ModelSpec:
    return ModelSpec(
        arch="tiny", width=4, depth=1, dropout=0.0, in_channels=1, num_classes=3,
        image_size=8, class_names=("a", "b", "c"), mean=(0.5,), std=(0.25,),
    )  # fmt: skip


@pytest.fixture
def net(spec: ModelSpec) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(4 * 8 * 8, spec.num_classes),
    )  # fmt: skip


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(32, 8, 8), dtype=np.uint8)


def test_onnx_probabilities_match_pytorch_within_tolerance(net, spec, images, tmp_path):
    path = export_onnx(net, spec, tmp_path / "model.onnx")
    report = check_onnx_parity(net, spec, path, images)
    assert report.labels_equal and report.max_abs_diff <= PARITY_ATOL and report.ok
    assert report.n_images == 32


def test_onnx_file_carries_its_spec_and_runs_any_batch_size(net, spec, images, tmp_path):
    export_onnx(net, spec, tmp_path / "model.onnx")
    classifier = load_onnx(tmp_path / "model.onnx")
    assert classifier.spec == spec
    probs = classifier.probabilities(images[:5])
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_export_leaves_no_temporary_files(net, spec, tmp_path):
    export_onnx(net, spec, tmp_path / "model.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_torch_probabilities_are_batched_consistently(net, spec, images):
    whole = torch_probabilities(net, spec, images)
    pieces = torch_probabilities(net, spec, images, batch_size=7)
    assert np.allclose(whole, pieces, atol=1e-6)
