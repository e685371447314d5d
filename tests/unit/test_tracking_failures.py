"""A tracking server that is down, silent or behind a password: the stage fails fast with one
line, credentials stay out of what MLflow prints, and runs a killed stage left RUNNING are
marked KILLED by the next run of that stage."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from imgclf import tracking
from imgclf.config import Params
from imgclf.stages.command import run_stage, tracked_run, tracking_settings
from tests.support.postgres import free_port

MLFLOW_VARIABLES = (
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT",
)  # fmt: skip


@pytest.fixture
def mlflow_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MLflow variables set; whatever the stage sets is undone after the test."""
    for name in MLFLOW_VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def stage_writing(output: Path) -> object:
    def stage(params: Params) -> None:
        with tracked_run("augment", params):
            output.write_text("done")

    return stage


def run_stage_writing_one_file(tmp_path: Path) -> tuple[int, float, Path]:
    """Run a stage that would write one file; return its exit status, its wall time and
    the file's path (which must not exist after a failure)."""
    (tmp_path / "params.yaml").write_text("{}\n")
    output = tmp_path / "augment.json"
    start = time.monotonic()
    code = run_stage(str(tmp_path / "params.yaml"), stage_writing(output))  # type: ignore[arg-type]
    return code, time.monotonic() - start, output


def test_a_closed_tracking_port_fails_the_stage_at_once_in_one_line_with_the_password_masked(
    tmp_path: Path, mlflow_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mlflow_env.setenv("MLFLOW_TRACKING_URI", f"http://bob:PASSWORD@127.0.0.1:{free_port()}")

    code, seconds, output = run_stage_writing_one_file(tmp_path)

    assert code == 2
    assert seconds < 5
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "http://bob:***@127.0.0.1:" in error and "connection refused" in error
    assert "PASSWORD" not in error
    assert not output.exists()


def test_a_silent_tracking_server_fails_after_the_request_timeout_a_user_can_set(
    tmp_path: Path,
    mlflow_env: pytest.MonkeyPatch,
    silent_server: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mlflow_env.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent_server}")
    mlflow_env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")

    code, seconds, output = run_stage_writing_one_file(tmp_path)

    assert code == 2
    assert seconds < 5
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"127.0.0.1:{silent_server}: no answer within 1 s" in error
    assert not output.exists()


def test_mlflow_client_waits_are_bounded_by_default_and_a_users_values_win() -> None:
    environ: dict[str, str] = {}
    assert tracking_settings(environ) == (None, "", 15.0)
    assert environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"

    mine = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7", "MLFLOW_HTTP_REQUEST_TIMEOUT": "120"}
    assert tracking_settings(mine)[2] == 120.0
    assert mine["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"


def test_credentials_leave_the_tracking_uri_for_mlflows_own_variables() -> None:
    environ = {"MLFLOW_TRACKING_URI": "https://bob:p%40ss@mlflow.example.org:5000/team"}

    uri, shown_as, _ = tracking_settings(environ)

    assert uri == "https://mlflow.example.org:5000/team"
    assert environ["MLFLOW_TRACKING_URI"] == uri, "what worker processes inherit"
    assert (environ["MLFLOW_TRACKING_USERNAME"], environ["MLFLOW_TRACKING_PASSWORD"]) == (
        "bob",
        "p@ss",
    )
    assert shown_as == "https://bob:***@mlflow.example.org:5000/team"


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_running_runs_of_a_dead_process_on_this_host_are_marked_killed_by_the_next_run(
    tmp_path: Path, mlflow_env: pytest.MonkeyPatch
) -> None:
    mlflow_env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow_env.chdir(tmp_path)
    params = Params.model_validate({"mlflow": {"experiment": "stale"}})
    host = socket.gethostname()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("stale")

    def left_running(stage: str, host: str, pid: int) -> str:
        tags = {tracking.TAG_STAGE: stage, tracking.TAG_HOST: host, tracking.TAG_PID: str(pid)}
        return client.create_run(experiment, tags=tags).info.run_id

    killed = left_running("augment", host, dead_pid())
    alive = left_running("augment", host, os.getppid())
    elsewhere = left_running("augment", "another-host", dead_pid())
    other_stage = left_running("split", host, dead_pid())

    with tracked_run("augment", params) as run:
        own = run.info.run_id

    def status(run_id: str) -> str:
        return client.get_run(run_id).info.status

    assert status(killed) == "KILLED"
    assert [status(r) for r in (alive, elsewhere, other_stage)] == ["RUNNING"] * 3
    assert status(own) == "FINISHED"
    tags = client.get_run(own).data.tags
    assert (tags[tracking.TAG_HOST], tags[tracking.TAG_PID]) == (host, str(os.getpid()))
