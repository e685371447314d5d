"""`dvc repro` killed with SIGKILL while ingest writes its image store: nothing half-written is
left where DVC or the next stage would trust it, and the next `dvc repro` ends with the
data stages' outputs of a run that was never interrupted, byte for byte.

It stops at split: a split identical to an uninterrupted run's is the data-level guarantee
(the manifest, every shard of the store and every split file), and what training makes of an
identical split is held by the tune kill test (same metrics and best params after a kill)
and the train resume test. Running tune, train and evaluate twice more would only add
minutes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
import yaml

from imgclf.tracking import TAG_STAGE
from tests.support.project_copy import git_env, repro_ok, set_params
from tests.support.shape_images import write_shape_folder

PER_CLASS = 60  # 240 files: enough for ingest to use its process pool (from 200)
TEMPORARY = ".images.*.tmp"  # the name atomic_path gives the store's folder while it is written
INGEST_OUTPUTS = ["data/images", "data/manifest.csv", "data/classes.json", "reports/rejected.csv"]
COMPARED_STAGES = ["ingest", "split"]  # validate's data docs carry their build time


@pytest.fixture
def start_repro() -> Iterator[Callable[[Path, Path], subprocess.Popen[bytes]]]:
    """Start `dvc repro split` in a project, its output to a log file, in its own process
    group: the kill takes the stage and its worker processes with it, as when the machine
    or the session dies. Whatever is still running at the end of the test is killed."""
    started: list[subprocess.Popen[bytes]] = []

    def start(project: Path, log: Path) -> subprocess.Popen[bytes]:
        env = {
            **git_env(),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
            "CI": "true",
        }
        with log.open("wb") as output:
            process = subprocess.Popen(
                ["dvc", "repro", "split"], cwd=project, env=env, start_new_session=True,
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def store_in_progress(project: Path) -> bool:
    """Whether ingest has started its store: the temporary folder it decodes images into
    exists (it is renamed to data/images once every shard is written)."""
    return any((project / "data").glob(TEMPORARY))


def temporaries(project: Path) -> list[Path]:
    return sorted(
        path for folder in ("data", "reports") for path in (project / folder).rglob(".*.tmp")
    )


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def data_stage_locks(project: Path) -> dict[str, object]:
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {name: stages[name] for name in COMPARED_STAGES}


@pytest.mark.e2e
def ingest_run_statuses(project: Path) -> list[str]:
    """The statuses of the ingest stage's MLflow runs in the project's store, sorted."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_STAGE}` = 'ingest'",
    )
    return sorted(run.info.status for run in runs)


@pytest.mark.slow
def test_dvc_repro_killed_during_ingest_reruns_to_the_uninterrupted_data(
    project: Path, tmp_path: Path, start_repro: Callable[[Path, Path], subprocess.Popen[bytes]]
) -> None:
    folder = write_shape_folder(tmp_path / "shapes", per_class=PER_CLASS, sizes=(96, 192))
    data = {"source": "folder", "path": str(folder), "channels": 3, "image_size": 32}
    set_params(project, {"data": data})
    whole = tmp_path / "whole"
    shutil.copytree(project, whole, symlinks=True)
    lock_before = (project / "dvc.lock").read_text()

    # The uninterrupted run goes on beside the killed one: the two copies share nothing.
    uninterrupted = start_repro(whole, tmp_path / "uninterrupted.log")
    killed = start_repro(project, tmp_path / "killed.log")
    deadline = time.monotonic() + 300
    # Killed once ingest has started decoding into its store, long before it is done.
    while not store_in_progress(project):
        assert killed.poll() is None, tail(tmp_path / "killed.log")
        assert time.monotonic() < deadline, "ingest never started its store"
        time.sleep(0.01)
    time.sleep(0.5)  # well into decoding 240 photos of up to 192 px
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()

    for name in INGEST_OUTPUTS:
        assert not (project / name).exists(), f"{name} exists after ingest was killed"
    assert store_in_progress(project), "the kill missed ingest"
    assert (project / "dvc.lock").read_text() == lock_before, "dvc.lock records the killed run"
    assert uninterrupted.wait() == 0, tail(tmp_path / "uninterrupted.log")

    rerun = repro_ok(project, "split")

    assert temporaries(project) == []
    assert "left by a killed run" in rerun.stdout + rerun.stderr
    # The killed ingest's MLflow run (a real kill -9) was marked KILLED by the rerun.
    assert ingest_run_statuses(project) == ["FINISHED", "KILLED"]
    for name in ("data/images", "data/splits"):
        assert files_under(project / name) == files_under(whole / name), name
    for name in ("data/manifest.csv", "data/classes.json", "reports/rejected.csv"):
        assert (project / name).read_bytes() == (whole / name).read_bytes(), name
    # Their md5s as DVC records them; split's deps hold validate's report.
    assert data_stage_locks(project) == data_stage_locks(whole)
    assert "up to date" in repro_ok(project, "split").stdout.lower()
