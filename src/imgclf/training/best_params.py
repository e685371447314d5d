"""Applying the tune stage's ``models/best_params.yaml`` on top of params.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from imgclf.config import Params, with_overrides
from imgclf.errors import StaleArtifactError


def apply_best_params(params: Params, path: str | Path) -> Params:
    """``params`` with the flat ``section.key: value`` mapping in ``path`` applied and checked."""
    path = Path(path)
    if not path.is_file():
        raise StaleArtifactError(f"{path}: not found; run `dvc repro tune` first")
    overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and "." in k for k in overrides
    ):
        raise StaleArtifactError(
            f"{path}: expected a flat mapping of dotted keys (train.lr: 0.004); "
            "run `dvc repro --force tune`"
        )
    return with_overrides(params, overrides)
