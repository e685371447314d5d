"""Transfer learning: ``model.init_from`` (start from trained weights) and
``model.freeze_backbone`` (train the classifier head only)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch
from torch import nn

from imgclf.errors import ParamError
from imgclf.models.checkpoint import network_state, read_checkpoint

log = logging.getLogger(__name__)


def load_pretrained(network: nn.Module, source: str) -> list[str]:
    """Copy weights from a checkpoint into ``network`` where names and shapes match.

    ``source`` is a local file (a train-stage ``.ckpt`` or the ``.safetensors`` weights of
    a served model) or an MLflow URI (``models:/name@alias``, ``runs:/<id>/path``) whose
    artifacts hold one. Layers that differ (typically a head for another number of classes)
    keep their fresh weights; their names are returned.
    """
    if Path(source).is_file():
        return _copy_matching(network, _read_weights(Path(source)), source)
    if "/" not in source:
        raise ParamError(
            f"model.init_from = {source!r}: no such file and not an MLflow URI "
            "(models:/<name>@<alias> or runs:/<run id>/<path>)"
        )
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=folder))
        except Exception as exc:  # MLflow raises many types; all mean "cannot fetch it"
            raise ParamError(f"model.init_from = {source!r}: {exc}") from None
        found = (
            [local] if local.is_file() else [*local.rglob("*.ckpt"), *local.rglob("*.safetensors")]
        )
        if not found:
            raise ParamError(f"model.init_from = {source!r}: holds no .ckpt or .safetensors file")
        return _copy_matching(network, _read_weights(found[0]), source)


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A network state dict from a Lightning checkpoint or a safetensors file (no pickle)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return network_state(read_checkpoint(path))


def _copy_matching(network: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    own = network.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    head = {id(p) for p in _head(network).parameters()}
    head_names = {name for name, p in network.named_parameters() if id(p) in head}
    if not set(usable) - head_names:
        raise ParamError(
            f"model.init_from = {source!r}: no layer matches model.name; "
            "it was trained with another architecture"
        )
    network.load_state_dict(usable, strict=False)
    skipped = sorted(set(own) - set(usable))
    log.info(
        "initialised %d tensors from %s; kept fresh: %s", len(usable), source, skipped or "none"
    )
    return skipped


def freeze_backbone(network: nn.Module) -> None:
    """Stop gradients everywhere except ``network.head``.

    Batch-norm layers of the frozen part must also stay in eval mode during training
    (see :func:`freeze_batchnorm_statistics`), or their running statistics would drift.
    """
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    for parameter in _head(network).parameters():
        parameter.requires_grad_(True)


def freeze_batchnorm_statistics(network: nn.Module) -> None:
    """Put every normalisation layer whose weights are frozen into eval mode."""
    for module in network.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def _head(network: nn.Module) -> nn.Module:
    head = network.head
    assert isinstance(head, nn.Module), "every imgclf network has a head module"
    return head
