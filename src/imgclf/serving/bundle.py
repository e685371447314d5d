"""A model bundle: the files an :class:`InferenceClassifier` is saved to and rebuilt from.

Two files in one folder: ``weights.safetensors`` (the state dict; the safetensors format
holds tensors only, so loading it cannot run code) and ``model.json`` (the
:class:`ModelSpec`, the :class:`ImageSettings` of ingest and the :class:`ServingLimits`).
The weights' SHA-256 is recorded when the bundle is logged and checked before the weights
are read.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from safetensors.torch import load_file, save_file

from imgclf.errors import StaleArtifactError
from imgclf.fingerprint import file_sha256
from imgclf.models import build_network
from imgclf.models.spec import ModelSpec
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.image_inputs import ImageSettings
from imgclf.serving.limits import LIMITS_KEY, ServingLimits

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "model.json"


def save_bundle(
    classifier: InferenceClassifier, folder: str | Path, limits: ServingLimits | None = None
) -> str:
    """Write the bundle files into ``folder`` (created); return the weights' SHA-256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Clones: safetensors refuses tensors that share memory (tied or viewed parameters).
    state = {
        key: value.detach().cpu().contiguous().clone()
        for key, value in classifier.net.state_dict().items()
    }
    save_file(state, str(folder / WEIGHTS_FILE))
    config = {
        "spec": classifier.spec.to_dict(),
        "image": asdict(classifier.settings),
        LIMITS_KEY: (limits or ServingLimits()).to_dict(),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return file_sha256(folder / WEIGHTS_FILE)


def load_bundle(
    weights: str | Path, config: str | Path, expected_sha256: str | None
) -> InferenceClassifier:
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
    return InferenceClassifier(net, spec, ImageSettings(**document["image"]))


def load_limits(config: str | Path) -> ServingLimits:
    """The serving limits in a bundle's ``model.json`` (the defaults where it has none)."""
    document = json.loads(Path(config).read_text(encoding="utf-8"))
    return ServingLimits.from_dict(document.get(LIMITS_KEY))
