"""A tiny untrained classifier and a tiny project around it, for evaluation and serving tests.

Three classes of 8x8 grayscale images (dark, mid, bright with a bar) as canonical PNGs,
split CSVs and classes.json as ingest/split write them, a Lightning-style checkpoint as the
train stage writes it, and the ONNX export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from imgclf.data.images import encode_png
from imgclf.models import build_network
from imgclf.models.checkpoint import NETWORK_PREFIX
from imgclf.models.spec import ModelSpec
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.image_inputs import ImageSettings
from imgclf.serving.onnx_export import export_onnx

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
    classes: Path
    model: Path
    onnx: Path
    params: Path


def write_tiny_project(root: Path, per_class: int = 6, seed: int = 0) -> TinyProject:
    """A project folder holding everything the evaluate stage reads (paths relative to root)."""
    rng = np.random.default_rng(seed)
    rows = {"train": [], "test": []}
    for label, name in enumerate(CLASSES):
        folder = root / "data" / "images" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            path = folder / f"{i:03d}.png"
            path.write_bytes(encode_png(class_image(label, rng)))
            split = "test" if i % 3 == 0 else "train"
            rows[split].append(
                {"path": path.relative_to(root).as_posix(), "label": name, "sha256": f"{label}-{i}"}
            )
    splits = root / "data" / "splits"
    splits.mkdir(parents=True)
    for split, records in rows.items():
        pd.DataFrame(records).to_csv(splits / f"{split}.csv", index=False)
    classes = root / "data" / "classes.json"
    classes.write_text(json.dumps({"classes": list(CLASSES)}))
    (root / "models").mkdir()
    classifier = tiny_classifier(seed)
    model = write_checkpoint(classifier, root / "models" / "model.ckpt")
    onnx = export_onnx(classifier.net, classifier.spec, root / "models" / "model.onnx")
    params = root / "params.yaml"
    params.write_text("evaluate:\n  model_name: tiny\nmlflow:\n  experiment: tiny\n")
    return TinyProject(root, splits, classes, model, onnx, params)
