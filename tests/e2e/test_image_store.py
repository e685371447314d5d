"""Decode once: after ingest, the pipeline runs from the image store alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.support.project_copy import dvc, repro_ok, set_params
from tests.support.shape_images import write_shape_folder


@pytest.mark.e2e
def test_stages_after_ingest_never_open_a_source_image(project: Path, tmp_path: Path) -> None:
    folder = write_shape_folder(tmp_path / "shapes", per_class=20)
    set_params(
        project,
        {
            "data": {"source": "folder", "path": str(folder), "channels": 3, "image_size": 16},
            "tune": {"n_trials": 1, "max_epochs": 1},
            "train": {"max_epochs": 1},
        },
    )
    repro_ok(project, "ingest")
    store = sorted(path.name for path in (project / "data/images").iterdir())
    assert store == ["shard-00000.npy"]  # 80 images, one file for DVC

    shutil.rmtree(folder)  # the sources are gone: every later stage reads the store
    repro_ok(project, "--single-item", "validate", "split", "augment", "tune", "train", "evaluate")

    metrics = json.loads((project / "metrics.json").read_text())
    predictions = pd.read_csv(project / "reports/predictions.csv")
    manifest = pd.read_csv(project / "data/manifest.csv")
    assert metrics["n_test"] == len(predictions) > 0
    # Each test image keeps its identity from ingest to the predictions.
    identity = manifest.set_index("path")["sha256"]
    assert (identity[predictions["path"]].to_numpy() == predictions["sha256"].to_numpy()).all()
    status = dvc(project, "status", "ingest").stdout  # the sources really were gone
    assert "deleted" in status and str(folder) in status
