"""`imgclf missing-runs`: the stages a fresh clone's MLflow store has no run of, which `make
run` runs again so that the UI shows every stage and the champion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from imgclf.missing_runs import main, missing_stages
from imgclf.stages import STAGES
from imgclf.tracking import TAG_STAGE
from tests.support.project_copy import REPO


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def log_stage(client: MlflowClient, experiment_id: str, stage: str, status: str = "FINISHED"):
    run = client.create_run(experiment_id, tags={TAG_STAGE: stage}, run_name=stage)
    client.set_terminated(run.info.run_id, status)
    return run


def test_an_empty_store_misses_every_stage_in_dag_order(client: MlflowClient) -> None:
    assert missing_stages(client, "imgclf", "imgclf-digits") == list(STAGES)


def test_only_stages_without_a_finished_run_are_missing_and_evaluate_until_a_champion(
    client: MlflowClient,
) -> None:
    experiment = client.create_experiment("imgclf")
    for stage in ("ingest", "split", "train", "evaluate"):
        log_stage(client, experiment, stage)
    log_stage(client, experiment, "tune", status="KILLED")

    assert missing_stages(client, "imgclf", "imgclf-digits") == [
        "validate", "augment", "tune", "evaluate",
    ]  # fmt: skip

    model = client.create_registered_model("imgclf-digits")
    run = log_stage(client, experiment, "evaluate")
    version = client.create_model_version(model.name, f"runs:/{run.info.run_id}/model")
    client.set_registered_model_alias(model.name, "champion", version.version)
    assert missing_stages(client, "imgclf", "imgclf-digits") == ["validate", "augment", "tune"]


def test_a_team_server_is_never_re_run_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)

    assert main([]) == 0
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "mlflow.db").exists()


def test_the_local_store_of_the_project_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"mlflow": {"experiment": "mine"}}))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    log_stage(client, client.create_experiment("mine"), "ingest")
    mlflow.set_tracking_uri(None)

    assert main([]) == 0
    assert capsys.readouterr().out.split() == list(STAGES[1:])


def test_a_stage_run_by_the_wrong_python_says_to_activate_the_venv_in_one_line() -> None:
    system = Path("/usr/bin/python3")
    probe = subprocess.run([str(system), "-c", "import imgclf"], capture_output=True)
    if not system.exists() or probe.returncode == 0:
        pytest.skip("no system Python without imgclf here")

    done = subprocess.run(
        [str(system), "-m", "pipelines.evaluate"], cwd=REPO, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "source .venv/bin/activate" in done.stderr
    assert sys.executable != str(system)
