"""The files that pass between stages, declared once and checked by their readers.

| file                      | written by | columns / keys                                         |
|---------------------------|------------|--------------------------------------------------------|
| ``data/images/shard-*.npy`` | ingest   | the canonical images, ``uint8`` (n, H, W[, 3]) each    |
| ``data/manifest.csv``     | ingest     | MANIFEST_COLUMNS, one row per canonical image          |
| ``data/classes.json``     | ingest     | ``{"classes": [name, ...]}`` in label-index order      |
| ``data/splits/*.csv``     | split      | SPLIT_COLUMNS (train, val, test; folds.csv adds fold)  |
| ``reports/rejected.csv``  | ingest     | REJECTED_COLUMNS                                       |
| ``reports/validation.json`` | validate | ``{"success": bool, ...}``; split needs ``true``      |

``path`` is an image's identity, ``<class folder>/<image id>`` (e.g. ``3/0123``; a folder
source's id is a hash of the file's path under ``data.path``, and ``source`` names the file
itself): it stays the same when the store is rebuilt. ``sha256`` is the hash of the
canonical image's pixels, so the same picture ingested from two files has one hash.
``shard`` and ``offset`` say where the pixels are: row ``offset`` of the store's file
``shard`` (:mod:`imgclf.data.store`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from imgclf.errors import StaleArtifactError

MANIFEST_COLUMNS = [
    "path",
    "label",
    "sha256",
    "width",
    "height",
    "mode",
    "bytes",
    "source",
    "source_split",
    "shard",
    "offset",
]
SPLIT_COLUMNS = ["path", "label", "sha256", "shard", "offset"]
FOLD_COLUMNS = [*SPLIT_COLUMNS, "fold"]
REJECTED_COLUMNS = ["path", "reason"]


def read_table(path: str | Path, columns: list[str], written_by: str) -> pd.DataFrame:
    """Read a CSV written by stage ``written_by`` and check it has ``columns``."""
    path = Path(path)
    if not path.is_file():
        raise StaleArtifactError(f"{path}: not found; run `dvc repro {written_by}` first")
    frame = pd.read_csv(path, dtype={"label": str, "source_split": str}, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StaleArtifactError(
            f"{path}: missing column(s) {', '.join(missing)}; it was written by an older "
            f"version: run `dvc repro --force {written_by}`"
        )
    return frame


def read_manifest(path: str | Path) -> pd.DataFrame:
    return read_table(path, MANIFEST_COLUMNS, "ingest")


def read_split(path: str | Path) -> pd.DataFrame:
    return read_table(path, SPLIT_COLUMNS, "split")


def read_classes(path: str | Path) -> list[str]:
    """Class names in label-index order, from ``classes.json``."""
    path = Path(path)
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))["classes"]
    except FileNotFoundError:
        raise StaleArtifactError(f"{path}: not found; run `dvc repro ingest` first") from None
    except (KeyError, TypeError, json.JSONDecodeError):
        raise StaleArtifactError(
            f'{path}: expected {{"classes": [...]}}; run `dvc repro --force ingest`'
        ) from None
    return [str(name) for name in classes]


def classes_document(classes: list[str]) -> dict[str, list[str]]:
    return {"classes": list(classes)}


def require_passed_validation(report: str | Path) -> None:
    """Raise :class:`StaleArtifactError` unless the validate stage's report says success."""
    report = Path(report)
    try:
        passed = json.loads(report.read_text(encoding="utf-8"))["success"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        raise StaleArtifactError(
            f"{report}: missing or unreadable; run `dvc repro validate` first"
        ) from None
    if passed is not True:
        raise StaleArtifactError(
            f"{report}: the data failed validation; fix it and run `dvc repro validate`"
        )
