"""`make mlflow-server` as a team runs it: PostgreSQL backend, artifacts uploaded through the
server, and the pipeline's stages logging to it from a copy of the project."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest
import yaml

from imgclf.tracking import TAG_STAGE
from tests.support.postgres import free_port
from tests.support.project_copy import REPO, copy_repository, git_env

pytestmark = pytest.mark.postgres


@contextmanager
def make_mlflow_server(env: dict[str, str], log: Path, timeout_s: float = 120) -> Iterator[None]:
    """Run `make mlflow-server` with ``env`` in its own process group until /health answers;
    stop the whole group (make, mlflow, its workers) on exit."""
    venv = Path(sys.prefix)
    # VENV: this interpreter's venv; -o: take its install as done, never re-run `make setup`.
    command = ["make", "-s", "mlflow-server", f"VENV={venv}", "-o", f"{venv}/.installed-stamp"]
    url = f"http://{env['MLFLOW_HOST']}:{env['MLFLOW_PORT']}"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout_s
            while not answers(f"{url}/health"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"make mlflow-server did not start:\n{log.read_text()}")
                time.sleep(0.5)
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_stages_log_runs_and_upload_artifacts_to_make_mlflow_server(
    postgres_url: str, tmp_path: Path
) -> None:
    artifacts = tmp_path / "team-artifacts"
    server_env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": postgres_url,
        "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts),
        "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_PORT": str(free_port()),
        # mlflow's default of 4 workers, and the job runner's 7 consumers (GenAI jobs that the
        # pipeline never submits), are too many processes for a test machine
        "MLFLOW_WORKERS": "1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    url = f"http://127.0.0.1:{server_env['MLFLOW_PORT']}"
    project = copy_repository(tmp_path / "project")
    experiment = yaml.safe_load((project / "params.yaml").read_text())["mlflow"]["experiment"]

    with make_mlflow_server(server_env, tmp_path / "mlflow-server.log"):
        stage_env = {
            **git_env(),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": url,
            "CI": "true",
        }
        # --force: the copy holds validate's committed report, and ingest reproduces the data
        # byte for byte, so without it DVC would rightly skip validate and log nothing
        repro = subprocess.run(
            ["dvc", "repro", "--force", "validate"],
            cwd=project, env=stage_env, capture_output=True, text=True,
        )  # fmt: skip
        assert repro.returncode == 0, f"{repro.stdout[-4000:]}\n{repro.stderr[-4000:]}"

        client = mlflow.MlflowClient(tracking_uri=url)
        found = client.get_experiment_by_name(experiment)
        assert found is not None, f"no experiment {experiment!r} on the server"
        runs = client.search_runs([found.experiment_id])
        by_stage = {run.data.tags[TAG_STAGE]: run for run in runs}
        assert set(by_stage) == {"ingest", "validate"}
        assert all(run.info.status == "FINISHED" for run in runs)
        validate_run = by_stage["validate"]
        assert validate_run.info.artifact_uri.startswith("mlflow-artifacts:")
        listed = [item.path for item in client.list_artifacts(validate_run.info.run_id)]
        assert "validation.json" in listed

    # The server wrote the upload into its artifact destination, byte for byte.
    uploaded = list(artifacts.rglob(f"{validate_run.info.run_id}/artifacts/validation.json"))
    assert len(uploaded) == 1
    assert uploaded[0].read_bytes() == (project / "reports" / "validation.json").read_bytes()
