"""Reading the train stage's Lightning checkpoints without unpickling arbitrary objects.

A checkpoint (``models/model.ckpt``) holds the network weights under ``state_dict`` with the
prefix ``net.`` and the :class:`~imgclf.models.spec.ModelSpec` as a plain dict under
``hyper_parameters["spec"]``; ``torch.load(weights_only=True)`` reads both. It keeps only
what loading needs (:func:`save_model_file`), so its bytes depend on the training alone.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgclf.errors import StaleArtifactError
from imgclf.models.architectures import build_network
from imgclf.models.spec import ModelSpec

NETWORK_PREFIX = "net."  # the LightningModule's attribute holding the network

# What a model file keeps of a Lightning checkpoint: enough for load_classifier and for
# Lightning's own ``load_from_checkpoint``. Left out: the callbacks' state (ModelCheckpoint
# stores its absolute dirpath and file paths), the optimizer and the loops, which only
# resuming needs, and resuming reads the checkpoints folder.
MODEL_FILE_KEYS = (
    "state_dict",
    "hyper_parameters",
    "hparams_name",
    "epoch",
    "global_step",
    "pytorch-lightning_version",
)


@dataclass(frozen=True)
class LoadedClassifier:
    """A network in eval mode and the spec it was trained with."""

    net: nn.Module
    spec: ModelSpec


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` a checkpoint with ``weights_only=True`` on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise StaleArtifactError(f"{path}: checkpoint not found; run `dvc repro train` first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise StaleArtifactError(
            f"{path}: not a readable weights-only checkpoint ({exc}); run `dvc repro --force train`"
        ) from None


def checkpoint_spec(checkpoint: dict[str, Any], source: str | Path = "checkpoint") -> ModelSpec:
    """The :class:`ModelSpec` stored in a checkpoint's hyper-parameters."""
    try:
        return ModelSpec.from_dict(checkpoint["hyper_parameters"]["spec"])
    except (KeyError, TypeError) as exc:
        raise StaleArtifactError(
            f"{source}: no model spec in its hyper_parameters ({exc}); it was not written by "
            "imgclf's train stage: run `dvc repro --force train`"
        ) from None


def network_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network's own state dict (the ``net.`` entries, prefix removed)."""
    return {
        key.removeprefix(NETWORK_PREFIX): value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(NETWORK_PREFIX)
    }


def load_classifier(path: str | Path) -> LoadedClassifier:
    """Rebuild the trained network from a checkpoint, in eval mode on the CPU."""
    checkpoint = read_checkpoint(path)
    spec = checkpoint_spec(checkpoint, path)
    net = build_network(spec)
    net.load_state_dict(network_state(checkpoint))
    net.eval()
    return LoadedClassifier(net=net, spec=spec)


def save_model_file(checkpoint: dict[str, Any], target: str | Path) -> None:
    """Write the :data:`MODEL_FILE_KEYS` of ``checkpoint`` to ``target``.

    The same weights give the same bytes in any folder: ``torch.save`` names the archive's
    inner folder after the file it writes, so the bytes are built in memory (inner folder
    ``archive``) and then written; the zip entries carry no timestamps.
    """
    buffer = io.BytesIO()
    torch.save({key: checkpoint[key] for key in MODEL_FILE_KEYS if key in checkpoint}, buffer)
    Path(target).write_bytes(buffer.getvalue())
