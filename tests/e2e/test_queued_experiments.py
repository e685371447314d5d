"""`dvc exp run --queue` runs each experiment in a temporary copy of the project: its MLflow
runs must still land in the project's own store, not in the copy's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from imgclf.config import load_params, with_overrides
from imgclf.fingerprint import params_hash
from tests.support.project_copy import dvc

SEEDS = (1, 2)
# ingest, validate and split: the cheapest stages that log MLflow runs (split's depends on
# the seed, so each experiment logs its own).
TARGET = "split"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def run_queue(project: Path, timeout_s: float = 1200) -> str:
    """Start the queue's worker and wait until no experiment is queued or running; return
    the last `dvc queue status`. A worker that stops with experiments still queued is
    started again: celery's filesystem broker, which DVC uses, can fail reading a message
    file while another process writes it, and the worker then ends after its current task."""
    ok(dvc(project, "queue", "start", default_store=True))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(10)
        status = ok(dvc(project, "queue", "status", default_store=True))
        if "Running" not in status and "Queued" not in status:
            return status
        if "Running" not in status and "0 active" in status:
            ok(dvc(project, "queue", "start", default_store=True))
    raise AssertionError(f"queue still busy after {timeout_s:g} s:\n{status}")


@pytest.mark.e2e
@pytest.mark.slow
def test_queued_experiments_log_their_runs_to_the_projects_store(project: Path) -> None:
    for seed in SEEDS:
        ok(dvc(project, "exp", "run", "--queue", "-S", f"seed={seed}", TARGET, default_store=True))

    status = run_queue(project)

    assert status.count("Success") == len(SEEDS), status
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    params = load_params(project / "params.yaml")
    experiment = client.get_experiment_by_name(params.mlflow.experiment)
    assert experiment is not None, "no MLflow experiment in the project's mlflow.db"
    assert experiment.artifact_location == (project / "mlruns").resolve().as_uri()
    splits = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`imgclf.stage` = 'split'"
    )
    assert sorted(run.data.tags["imgclf.params_hash"] for run in splits) == sorted(
        params_hash(with_overrides(params, {"seed": seed})) for seed in SEEDS
    )
    assert all(run.inputs.dataset_inputs[0].dataset.name == "manifest" for run in splits)
