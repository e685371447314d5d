"""A tiny untrained classifier and a tiny project around it, for evaluation and serving tests.

Three classes of 8x8 grayscale images (dark, mid, bright with a bar) in an image store,
split CSVs and classes.json as ingest/split write them, a Lightning-style checkpoint as the
train stage writes it, and the ONNX export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from imgclf.models import build_network
from imgclf.models.checkpoint import NETWORK_PREFIX
from imgclf.models.spec import ModelSpec
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.image_inputs import ImageSettings
from imgclf.serving.onnx_export import export_onnx
from tests.support.image_store import write_store

CLASSES = ("dark", "mid", "bright")


def tiny_spec(image_size: int = 8, channels: int = 1) -> ModelSpec:
    return ModelSpec(
        arch="mlp", width=8, depth=1, dropout=0.0, in_channels=channels, num_classes=len(CLASSES),
        image_size=image_size, class_names=CLASSES, mean=(0.5,) * channels, std=(0.25,) * channels,
    )  # fmt: skip


def tiny_classifier(seed: int = 0) -> InferenceClassifier:
    torch.manual_seed(seed)
    spec = tiny_spec()
    net = build_network(spec).eval()
    return InferenceClassifier(net, spec, ImageSettings.for_spec(spec))


def class_image(label: int, rng: np.random.Generator, size: int = 8) -> np.ndarray:
    """A noisy image whose brightness says its class."""
    base = np.full((size, size), 40 + 90 * label, dtype=np.int16)
    return np.clip(base + rng.integers(-20, 21, size=(size, size)), 0, 255).astype(np.uint8)


def write_checkpoint(classifier: InferenceClassifier, path: Path) -> Path:
    state = {NETWORK_PREFIX + key: value for key, value in classifier.net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"spec": classifier.spec.to_dict()}}, path)
    return path


@dataclass(frozen=True)
class TinyProject:
    root: Path
    splits: Path
    images: Path
    classes: Path
    model: Path
    onnx: Path
    params: Path


def write_tiny_project(root: Path, per_class: int = 6, seed: int = 0) -> TinyProject:
    """A project folder holding everything the evaluate stage reads (paths relative to root)."""
    rng = np.random.default_rng(seed)
    images = [class_image(label, rng) for label in range(len(CLASSES)) for _ in range(per_class)]
    labels = [name for name in CLASSES for _ in range(per_class)]
    rows = write_store(root / "data" / "images", images, labels)
    rows["sha256"] = [f"{CLASSES.index(name)}-{i % per_class}" for i, name in enumerate(labels)]
    test = np.arange(len(rows)) % per_class % 3 == 0
    splits = root / "data" / "splits"
    splits.mkdir(parents=True)
    rows[~test].to_csv(splits / "train.csv", index=False)
    rows[test].to_csv(splits / "test.csv", index=False)
    classes = root / "data" / "classes.json"
    classes.write_text(json.dumps({"classes": list(CLASSES)}))
    (root / "models").mkdir()
    classifier = tiny_classifier(seed)
    model = write_checkpoint(classifier, root / "models" / "model.ckpt")
    onnx = export_onnx(classifier.net, classifier.spec, root / "models" / "model.onnx")
    params = root / "params.yaml"
    params.write_text("evaluate:\n  model_name: tiny\nmlflow:\n  experiment: tiny\n")
    return TinyProject(root, splits, root / "data" / "images", classes, model, onnx, params)
