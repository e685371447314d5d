"""`dvc repro` killed with SIGKILL during the tune stage: the next `dvc repro` finishes the
study (the interrupted trial failed and run again) and ends with the metrics and best params
of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.project_copy import dvc, git_env, repro_ok, set_params

# Grid: the trials after a retry are the grid points an uninterrupted study would run, so
# the best params can be compared exactly (TPE's later points depend on the trial count).
TINY = {
    "tune": {
        "sampler": "grid",
        "n_trials": 2,
        "max_epochs": 2,
        "budget": None,  # two trials as long as the final training: the budget would allow one
        "space": {"train.lr": {"type": "categorical", "choices": [0.003, 0.01]}},
    },
    "train": {"max_epochs": 2, "patience": 2},
}
TUNE_OUTPUTS = ["models/best_params.yaml", "reports/tune.json"]


def trial_states(project: Path) -> list[str]:
    database = project / "models" / "optuna.db"
    if not database.is_file() or database.stat().st_size == 0:
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.1) as connection:
            rows = connection.execute("SELECT state FROM trials ORDER BY number").fetchall()
    except sqlite3.OperationalError:  # no tables yet, or the file is locked for a moment
        return []
    return [state for (state,) in rows]


def start_repro(project: Path) -> subprocess.Popen[str]:
    """`dvc repro` in its own process group: the kill takes the stage with it, as when the
    machine or the session dies."""
    env = {
        **git_env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "CI": "true",
    }
    env.pop("IMGCLF_OPTUNA_STORAGE", None)
    return subprocess.Popen(
        ["dvc", "repro"], cwd=project, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def assert_whole_or_absent(project: Path) -> None:
    for name in TUNE_OUTPUTS:
        path = project / name
        if path.exists():
            text = path.read_text()
            json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


@pytest.mark.e2e
@pytest.mark.slow
def test_dvc_repro_killed_during_tune_reruns_to_the_uninterrupted_result(
    project: Path, tmp_path: Path
) -> None:
    set_params(project, TINY)
    repro_ok(project, "augment")  # the data stages run once, for both projects
    whole = tmp_path / "whole"
    shutil.copytree(project, whole, symlinks=True)
    repro_ok(whole)

    killed = start_repro(project)
    deadline = time.monotonic() + 300
    # Killed in the second trial: the first one is kept, the second one is interrupted.
    while trial_states(project)[1:2] != ["RUNNING"]:
        assert killed.poll() is None, killed.communicate()[0][-4000:]
        assert time.monotonic() < deadline, "the tune stage never reached its second trial"
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()
    assert trial_states(project) == ["COMPLETE", "RUNNING"]
    assert_whole_or_absent(project)
    assert "tune" in json.loads(dvc(project, "status", "--json").stdout)

    rerun = repro_ok(project)

    assert "trials [1] were interrupted by an earlier run" in rerun.stdout + rerun.stderr
    assert trial_states(project) == ["COMPLETE", "FAIL", "COMPLETE"]
    for name in ("metrics.json", "models/best_params.yaml"):
        assert (project / name).read_text() == (whole / name).read_text(), name
    assert "up to date" in repro_ok(project).stdout.lower()
