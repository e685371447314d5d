"""A tracking URI with a user and password: the stage works against a real `mlflow server`,
and the password shows up nowhere: not in output or logs, MLflow params or tags, reports."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pytest

from pipelines.tune import main
from tests.support.mlflow_server import mlflow_server
from tests.unit.test_tracking_failures import mlflow_env  # noqa: F401  (fixture)
from tests.unit.test_tuning_objective import tiny_inputs  # noqa: F401  (fixture)
from tests.unit.test_tuning_stage import _write_augment, stage_args

PASSWORD = "Hunter2-not-in-logs"

pytestmark = pytest.mark.slow


def test_a_tracking_password_never_reaches_output_logs_runs_or_reports(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811
    mlflow_env: pytest.MonkeyPatch,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "artifacts").mkdir()
    mlflow_env.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    with mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path / "artifacts") as url:
        mlflow_env.setenv("MLFLOW_TRACKING_URI", url.replace("http://", f"http://ci:{PASSWORD}@"))
        args = stage_args(tmp_path, tiny_inputs)
        args[args.index("--augment") + 1] = _write_augment(tmp_path)

        assert main(args) == 0

        client = mlflow.MlflowClient(url)
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()], max_results=100
        )
    out, err = capfd.readouterr()
    assert "View run" in out, "MLflow printed its run links"
    assert len(runs) == 3, "the stage's run and one per trial"
    places = {
        "stdout": out,
        "stderr": err,
        "logs": caplog.text,
        "runs": repr([(run.data.params, run.data.tags) for run in runs]),
        "reports": "".join(
            path.read_text(errors="replace")
            for path in tmp_path.rglob("*")
            if path.is_file() and path.suffix in (".json", ".yaml", ".csv", ".log")
        ),
    }
    assert {place: PASSWORD in text for place, text in places.items()} == dict.fromkeys(
        places, False
    )
    assert "ci:***@" not in out, "links carry no credentials at all"
