"""A user's own colour folder: only `data.*` changes, and the defaults must beat the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.photo_folder import write_photo_folder
from tests.support.project_copy import repro_ok, set_params
from tests.support.shape_images import write_shape_folder


def training_figures(project: Path) -> str:
    """What a failure needs to show to fix the defaults: the study's winner and the curve."""
    best = (project / "models/best_params.yaml").read_text()
    history = pd.read_csv(project / "reports/train_history.csv")
    return f"best_params:\n{best}\ntrain_history ({len(history)} epochs):\n{history.tail(5)}"


@pytest.mark.e2e
@pytest.mark.slow
def test_defaults_beat_the_baseline_on_a_colour_folder_with_only_data_keys_changed(
    project: Path, tmp_path: Path
) -> None:
    # 320 shapes, 24..64 px, half JPEG, half PNG (some RGBA, some palette): raw pixels
    # cannot tell them apart (SVC about 0.4), a small CNN can.
    folder = write_shape_folder(tmp_path / "shapes", per_class=80)
    data = {"source": "folder", "path": str(folder), "channels": 3, "image_size": 32}
    set_params(project, {"data": {**data, "resize": "pad"}})

    repro_ok(project)

    metrics = json.loads((project / "metrics.json").read_text())
    figures = f"{metrics}\n{training_figures(project)}"
    assert metrics["baseline_accuracy"] < 0.95, f"the folder is too easy for raw pixels\n{figures}"
    assert metrics["accuracy"] >= metrics["baseline_accuracy"], figures


@pytest.mark.e2e
@pytest.mark.slow
def test_defaults_learn_photos_with_only_data_keys_changed(project: Path, tmp_path: Path) -> None:
    # Objects at random places, sizes and turns among smaller shapes of other classes, on
    # textured backgrounds (bench/photo_folder.py): a pixel-wise SVC stays near chance. The
    # full-size check (3,000 photos, 0.80+, 15 minutes) is `make bench-photos`; a third of
    # that keeps the slow suite's time; the defaults must still beat the baseline by the paired
    # test.
    folder = tmp_path / "photos"
    write_photo_folder(folder, 1000, 64, classes=10, seed=0)
    set_params(
        project,
        {"data": {"source": "folder", "path": str(folder), "channels": 3, "image_size": 64}},
    )

    repro_ok(project)

    metrics = json.loads((project / "metrics.json").read_text())
    figures = f"{metrics}\n{training_figures(project)}"
    assert metrics["baseline_accuracy"] < 0.3, f"the folder is too easy for raw pixels\n{figures}"
    assert metrics["accuracy"] > metrics["baseline_accuracy"], figures
    assert metrics["baseline_p_value"] < 0.05, figures  # evaluate.alpha's default
