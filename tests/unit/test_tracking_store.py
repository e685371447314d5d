"""Where a stage run's MLflow records go without ``MLFLOW_TRACKING_URI``, and which data
the run says it read."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from imgclf.config import Params
from imgclf.fingerprint import file_sha256
from imgclf.stages.command import tracked_run

PARAMS = Params.model_validate({"mlflow": {"experiment": "store"}})


@pytest.fixture
def no_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.slow  # each MLflow SQLite store starts with its schema migrations
def test_runs_in_a_temporary_copy_land_in_the_store_of_the_project_dvc_names(
    tmp_path: Path, no_tracking_uri: pytest.MonkeyPatch
) -> None:
    project, copy = tmp_path / "project", tmp_path / "project/.dvc/tmp/exps/tmp1234"
    copy.mkdir(parents=True)
    no_tracking_uri.setenv("DVC_ROOT", str(project))  # what `dvc exp run --temp` sets
    no_tracking_uri.chdir(copy)

    with tracked_run("augment", PARAMS) as run:
        mlflow.log_text("weights", "model.txt")

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert (project / "mlruns").is_dir()
    assert [path.name for path in copy.iterdir()] == []


@pytest.mark.slow
def test_a_stage_run_logs_the_csv_it_reads_as_a_dataset_with_the_files_digest(
    tmp_path: Path, no_tracking_uri: pytest.MonkeyPatch
) -> None:
    no_tracking_uri.chdir(tmp_path)
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": ["a.png", "b.png"], "label": ["cat", "dog"]}).to_csv(manifest)

    with tracked_run("split", PARAMS, manifest=manifest, datasets={"manifest": manifest}) as run:
        pass

    inputs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [
        ("manifest", file_sha256(manifest)[:16])
    ]
    assert {tag.key: tag.value for tag in inputs[0].tags}["mlflow.data.context"] == "manifest"
    assert (
        mlflow.get_run(run.info.run_id)
        .data.tags["imgclf.manifest_sha256"]
        .startswith(inputs[0].dataset.digest)
    )
