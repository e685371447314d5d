"""A temporary copy of the repository and `dvc` run in it, for the end-to-end suites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def copy_repository(destination: Path) -> Path:
    """Copy the tracked and untracked-but-not-ignored files, then commit them in a new repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=destination, check=True, env=git_env())
    return destination


def git_env() -> dict[str, str]:
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def set_params(project: Path, changes: dict[str, dict[str, object]]) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in changes.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def dvc(project: Path, *args: str, default_store: bool = False) -> subprocess.CompletedProcess[str]:
    """`dvc <args>` in ``project``, tracking to its own SQLite MLflow store, with the local
    Optuna storage whatever the caller's environment says. ``default_store``: leave
    ``MLFLOW_TRACKING_URI`` unset, so the stages find the project's store themselves."""
    env = {
        **git_env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "CI": "true",
    }
    env.pop("IMGCLF_OPTUNA_STORAGE", None)
    if default_store:
        del env["MLFLOW_TRACKING_URI"]
    return subprocess.run(["dvc", *args], cwd=project, env=env, capture_output=True, text=True)


def repro_ok(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = dvc(project, "repro", *args)
    assert result.returncode == 0, (
        f"dvc repro failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result
