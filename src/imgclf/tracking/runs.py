"""A stage's MLflow run: its tags, its input datasets, its params, and the runs a killed
process left RUNNING."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import RunStatus

from imgclf.fingerprint import file_sha256
from imgclf.tracking.machine import cpu_description, git_commit, numerics_tags, peak_rss_mib

log = logging.getLogger("imgclf.tracking")

# MLflow's dataset table keeps at most 36 characters of a digest.
DATASET_DIGEST_LENGTH = 16
TAG_STAGE = "imgclf.stage"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARAMS_HASH = "imgclf.params_hash"
TAG_MANIFEST_HASH = "imgclf.manifest_sha256"
TAG_CPU = "imgclf.cpu"
TAG_HOST = "imgclf.host"
TAG_PID = "imgclf.pid"
METRIC_PEAK_RSS = "peak_rss_mib"


def end_stale_runs(
    experiment_id: str, stage: str, host: str, is_alive: Callable[[int], bool]
) -> list[str]:
    """Mark KILLED the runs of ``stage`` still RUNNING that a process on ``host`` started
    and that is gone (``kill -9``, power loss); return their ids. Runs of other hosts, or of
    a process still alive, are left alone: they may be running right now."""
    client = mlflow.MlflowClient()
    running = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{TAG_STAGE}` = '{stage}' AND tags.`{TAG_HOST}` = '{host}' "
            "AND attributes.status = 'RUNNING'"
        ),
        max_results=1000,
    )
    stale = [
        run.info.run_id
        for run in running
        if run.data.tags.get(TAG_PID, "").isdigit() and not is_alive(int(run.data.tags[TAG_PID]))
    ]
    for run_id in stale:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
        log.warning("MLflow run %s of stage %s: its process is gone; marked KILLED", run_id, stage)
    return stale


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stage_tags(stage: str, params_hash: str, manifest: str | Path | None) -> dict[str, str]:
    """The tags every stage run carries."""
    tags = {TAG_STAGE: stage, TAG_GIT_COMMIT: git_commit(), TAG_PARAMS_HASH: params_hash}
    if manifest is not None and Path(manifest).is_file():
        tags[TAG_MANIFEST_HASH] = file_sha256(manifest)
    return tags


@contextlib.contextmanager
def stage_run(stage: str, tags: dict[str, str], **start_kwargs: Any) -> Iterator[mlflow.ActiveRun]:
    """Open the MLflow run of one stage, named after it and tagged with ``tags``."""
    own = {
        TAG_CPU: cpu_description(),
        TAG_HOST: socket.gethostname(),
        TAG_PID: str(os.getpid()),
        **numerics_tags(os.environ),
    }
    with mlflow.start_run(run_name=stage, tags={**own, **tags}, **start_kwargs) as run:
        yield run
        mlflow.log_metric(METRIC_PEAK_RSS, peak_rss_mib())


def log_datasets(files: Mapping[str, str | Path]) -> None:
    """Log each CSV file of ``files`` (``{context: path}``, e.g. ``{"train": ...}``) as an
    input dataset of the active run, named after the file, its digest the first
    :data:`DATASET_DIGEST_LENGTH` hex digits of the file's SHA-256."""
    for context, path in files.items():
        dataset = from_pandas(
            pd.read_csv(path),
            source=str(path),
            name=Path(path).stem,
            digest=file_sha256(path)[:DATASET_DIGEST_LENGTH],
        )
        mlflow.log_input(dataset, context=context)


def log_params_flat(section: str, values: dict[str, Any]) -> None:
    """Log a params section as ``section.key`` MLflow params (lists as strings)."""
    mlflow.log_params({f"{section}.{key}": value for key, value in values.items()})
