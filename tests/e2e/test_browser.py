"""The MLflow UI after `make run` on a fresh clone, rendered by headless Chromium: what a
newcomer sees."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml

from docs.pictures import mlflow_pictures, stage_pictures
from tests.e2e.test_pipeline import STAGES
from tests.support.project_copy import REPO, git_env

LINK = re.compile(r'<a [^>]*href="#/experiments/\d+/runs/([0-9a-f]{32})"[^>]*>(.*?)</a>', re.S)


def run_links(dom: str) -> set[tuple[str, str]]:
    """(run id, shown text) of every link to a run on a rendered page."""
    return {(run_id, visible_text(inner)) for run_id, inner in LINK.findall(dom)}


def visible_text(dom: str) -> str:
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


@pytest.mark.browser
def test_mlflow_ui_shows_the_stage_runs_the_trials_and_the_champion(
    project: Path, tmp_path: Path
) -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` (.ci/run does)")
    # A fresh clone: the committed outputs, no MLflow store. `make run` with this checkout's
    # venv: DVC skips the stages whose outputs are committed, then the ones the store has no
    # run of run again (imgclf missing-runs).
    # `-o STAMP`: the venv counts as set up. Were make to redo it from the copy, pip would
    # point this checkout's editable install at the copy, deleted after the test.
    venv = REPO / ".venv"
    made = subprocess.run(
        ["make", "-o", str(venv / ".installed-stamp"), "run", f"VENV={venv}"],
        cwd=project, capture_output=True, text=True, env=git_env(), timeout=900,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert "MLflow's local store has no run of: " in made.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True)
    assert status.stdout.decode() == "", "make run changed committed files"
    params = yaml.safe_load((project / "params.yaml").read_text())
    tracking_uri = f"sqlite:///{project / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(params["mlflow"]["experiment"])
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    stage_runs = {run.info.run_name: run.info.run_id for run in runs if run.info.run_name in STAGES}
    trials = {
        run.info.run_name: run.info.run_id
        for run in runs
        if run.data.tags.get("mlflow.parentRunId") == stage_runs["tune"]
    }
    study = json.loads((project / "reports" / "tune.json").read_text())
    assert sorted(trials) == sorted(f"trial-{t['number']}" for t in study["trials"])

    shots = tmp_path / "screenshots"
    pages = mlflow_pictures(
        tracking_uri,
        params["mlflow"]["experiment"],
        params["evaluate"]["model_name"],
        shots,
        tmp_path / "mlflow-ui.log",
    )
    for name, dom in pages.items():
        (shots / f"{name}.html").write_text(dom)  # to read when an assertion below fails

    # The runs page: one row per stage, each a link to that very run.
    assert {(run_id, name) for name, run_id in stage_runs.items()} <= run_links(
        pages["mlflow_runs"]
    )
    # The tune run's page: its metric with the value MLflow holds, and its nested trials.
    tune_page = pages["mlflow_tune_run"]
    best = client.get_run(stage_runs["tune"]).data.metrics["best_val_acc"]
    shown = re.search(r"best_val_acc (\d+(?:\.\d+)?)", visible_text(tune_page))
    assert shown is not None and float(shown.group(1)) == pytest.approx(best, abs=1e-6)
    assert "Child runs" in visible_text(tune_page)
    assert {(run_id, name) for name, run_id in trials.items()} <= run_links(tune_page)
    # The registered model: its one version carries the champion alias.
    model_text = visible_text(pages["mlflow_model"])
    assert params["evaluate"]["model_name"] in model_text
    assert re.search(r"Version 1 .*@\s*champion", model_text)

    for name in pages:
        assert (shots / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    # `make docs` draws the rest from the same run.
    stage_pictures(project, shots)
    assert (shots / "dag.png").read_bytes()[:4] == b"\x89PNG"
