"""A team's set-up: stages log to a shared `mlflow server` with a PostgreSQL backend,
and the MLflow UI shows the runs in a real browser."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mlflow
import pytest

from imgclf.config import Params
from imgclf.stages.command import tracked_run
from tests.support.mlflow_server import mlflow_server

pytestmark = pytest.mark.postgres


def test_stage_runs_reach_a_shared_server_with_a_postgres_backend(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "artifacts").mkdir()
    with mlflow_server(postgres_url, tmp_path / "artifacts") as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        params = Params.model_validate({"mlflow": {"experiment": "team-study"}})
        report = tmp_path / "report.json"
        report.write_text("{}")
        with tracked_run("augment", params) as run:
            mlflow.log_metric("val_acc", 0.5)
            mlflow.log_artifact(str(report))

        client = mlflow.MlflowClient(tracking_uri=url)
        stored = client.get_run(run.info.run_id)
        assert stored.data.tags["imgclf.stage"] == "augment"
        assert stored.data.tags["imgclf.params_hash"]
        assert stored.data.metrics["val_acc"] == 0.5
        # Artifacts go through the server (proxied), not to a client-side path.
        assert [item.path for item in client.list_artifacts(run.info.run_id)] == ["report.json"]

        if shutil.which("chromium") is None:
            pytest.skip("Chromium is not installed: `apt-get install -y chromium` (.ci/run does)")
        page = f"{url}/#/experiments/{stored.info.experiment_id}/runs/{run.info.run_id}"
        dom = render_page(page, tmp_path / "mlflow-ui.png")
        assert "team-study" in dom
        assert "imgclf.params_hash" in dom
        assert (tmp_path / "mlflow-ui.png").read_bytes()[:4] == b"\x89PNG"


def render_page(url: str, screenshot: Path) -> str:
    """Load ``url`` in headless Chromium; save a screenshot and return the rendered DOM."""
    profile = tempfile.mkdtemp(prefix="imgclf-chromium-")
    flags = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
        "--window-size=1400,900",
    ]  # fmt: skip
    try:
        subprocess.run(
            [*flags, f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
        dom = subprocess.run(
            [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return dom.stdout
