"""`make mlflow-server`, `make ui` and `make dashboard`: loopback by default, and one line
saying what to do when there is nothing to serve. Nothing here starts a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(target: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`make TARGET` from ``cwd`` with the repository's Makefile and this interpreter's venv,
    whose install counts as done (-o), so no target ever re-runs `make setup`."""
    venv = Path(sys.prefix)
    command = [
        "make", "-s", "-f", str(REPO / "Makefile"), target,
        f"VENV={venv}", "-o", f"{venv}/.installed-stamp", *args,
    ]  # fmt: skip
    environment = {**os.environ, **env}
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_HOST", "IMGCLF_OPTUNA_STORAGE"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)


def test_mlflow_server_without_a_backend_store_says_what_to_set(tmp_path: Path) -> None:
    result = make("mlflow-server", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "error: MLFLOW_BACKEND_STORE_URI is not set; set it to the team's database, e.g. "
        "MLFLOW_BACKEND_STORE_URI=postgresql://mlflow@localhost/mlflow make mlflow-server"
    )


def test_mlflow_server_binds_loopback_and_serves_artifacts_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    plan = make("mlflow-server", tmp_path, "-n", MLFLOW_BACKEND_STORE_URI="postgresql://x/y")
    assert 'MLFLOW_HOST="${MLFLOW_HOST:-127.0.0.1}"' in plan.stdout
    assert "mlflow server --serve-artifacts" in plan.stdout
    assert "--app-name" not in plan.stdout
    with_auth = make("mlflow-server", tmp_path, "-n", "MLFLOW_SERVER_APP=basic-auth")
    assert "mlflow server --serve-artifacts --app-name basic-auth" in with_auth.stdout


@pytest.mark.parametrize("target", ["ui", "dashboard"])
def test_local_viewers_bind_loopback_only(target: str, tmp_path: Path) -> None:
    plan = make(target, tmp_path, "-n", MLFLOW_HOST="0.0.0.0")
    assert plan.returncode == 0, plan.stderr
    assert "--host 127.0.0.1" in plan.stdout.splitlines()[-1]


def test_dashboard_without_a_study_says_how_to_make_one(tmp_path: Path) -> None:
    result = make("dashboard", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no study in models/optuna.db yet; run `make run`")
