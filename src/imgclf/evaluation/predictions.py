"""``reports/predictions.csv``: one row per test image, from which every test figure of
``metrics.json`` can be recomputed, and which ``imgclf compare`` pairs across revisions.

Columns (PREDICTION_COLUMNS): ``path``; ``sha256`` of the canonical image (the manifest's,
so two revisions' files pair by image content, not by file name); ``label`` (the true
class name); ``predicted`` and its ``confidence`` (the model's top probability);
``baseline_predicted`` (the scikit-learn baseline's class name, empty without a baseline).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.atomic import write_csv
from imgclf.errors import StaleArtifactError

PREDICTION_COLUMNS = ["path", "sha256", "label", "predicted", "confidence", "baseline_predicted"]


def prediction_table(
    test_rows: pd.DataFrame,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    baseline_predictions: np.ndarray | None,
) -> pd.DataFrame:
    """The predictions of the test split's rows (``path, label, sha256``, in image order)."""
    names = np.asarray(class_names, dtype=object)
    best = probabilities.argmax(axis=1)
    return pd.DataFrame(
        {
            "path": test_rows["path"].to_numpy(),
            "sha256": test_rows["sha256"].to_numpy(),
            "label": test_rows["label"].astype(str).to_numpy(),
            "predicted": names[best],
            "confidence": probabilities[np.arange(len(best)), best].round(6),
            "baseline_predicted": (
                names[baseline_predictions] if baseline_predictions is not None else ""
            ),
        },
        columns=PREDICTION_COLUMNS,
    )


def write_predictions(path: str | Path, table: pd.DataFrame) -> None:
    write_csv(path, table)


def parse_predictions(text: str, source: str) -> pd.DataFrame:
    """A predictions.csv's text (``source`` names it in errors) as a checked table."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise StaleArtifactError(
            f"{source}: missing column(s) {', '.join(missing)}; written by an older version: "
            "run `dvc repro evaluate` there"
        )
    frame["confidence"] = pd.to_numeric(frame["confidence"])
    return frame
