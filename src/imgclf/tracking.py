"""MLflow conventions in one place.

* Tracking store: whatever ``MLFLOW_TRACKING_URI`` names (the stage passes it in), else
  the local SQLite file ``mlflow.db`` in the project root, artifacts in ``mlruns/``, both by
  absolute path: a run in a temporary copy of the project (``dvc exp run --temp``) still
  lands in the project's own store.
* One experiment per project (``mlflow.experiment``).
* Every stage run carries the same tags: git commit, DVC stage name, params hash and
  data manifest hash, so any run can be traced back to the exact inputs; and the CPU it
  ran on, with its peak resident memory as the metric ``peak_rss_mib``, since the speed and
  the bits of a trained model depend on the machine, with the ``numerics`` mode its libraries
  ran in and ATen's CPU capability (``imgclf.numerics``, ``imgclf.cpu_capability``); and the
  host and process id, so that the next run of the stage can tell a run left RUNNING by a
  killed process (and mark it KILLED).
* A tracking server is asked for ``/health`` once, before anything else, so an unreachable
  one fails the stage at once with one line instead of after MLflow's retries.
* Each run logs the CSV files it reads (manifest, splits) as MLflow datasets, digest the
  start of their SHA-256, so the UI's Dataset column says which data a run saw.
* Credentials never travel inside the URI given to MLflow (it prints and logs that URI):
  the stage moves them to MLflow's own username and password variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import resource
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import mlflow
import pandas as pd
import requests
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from imgclf import numerics
from imgclf.errors import UserError
from imgclf.fingerprint import file_sha256

log = logging.getLogger(__name__)

# The local store, relative to the project root.
LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlruns"
# MLflow's dataset table keeps at most 36 characters of a digest.
DATASET_DIGEST_LENGTH = 16

TAG_STAGE = "imgclf.stage"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARAMS_HASH = "imgclf.params_hash"
TAG_MANIFEST_HASH = "imgclf.manifest_sha256"
TAG_CPU = "imgclf.cpu"
TAG_HOST = "imgclf.host"
TAG_PID = "imgclf.pid"
TAG_NUMERICS = "imgclf.numerics"
TAG_CPU_CAPABILITY = "imgclf.cpu_capability"
METRIC_PEAK_RSS = "peak_rss_mib"
# The CPU features that decide which kernels (and so which speed and which bits) run.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# MLflow 3's UI opens an experiment in its GenAI view unless told it is model training.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"


def configure(
    tracking_uri: str | None,
    experiment: str,
    *,
    root: str | Path = ".",
    timeout_s: float = 15,
    shown_as: str = "",
) -> str:
    """Point MLflow at ``tracking_uri`` (or the local store of the project at ``root``) and
    select ``experiment``; return its id.

    A tracking server must answer ``/health`` within ``timeout_s``, else a
    :class:`UserError` names it as ``shown_as`` (the URI with its password masked).
    """
    artifact_location = None
    if tracking_uri:
        uri = tracking_uri
    else:
        uri, artifact_location = local_store(root)
    if urlsplit(uri).scheme in ("http", "https"):
        check_server(uri, timeout_s, shown_as or mask_password(uri))
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    if artifact_location and client.get_experiment_by_name(experiment) is None:
        # MLflow would put a new experiment's artifacts in ./mlruns of the working directory.
        with contextlib.suppress(MlflowException):  # created meanwhile by a parallel stage
            client.create_experiment(experiment, artifact_location=artifact_location)
    found = mlflow.set_experiment(experiment)
    if TAG_EXPERIMENT_KIND not in found.tags:
        client.set_experiment_tag(
            found.experiment_id, TAG_EXPERIMENT_KIND, "custom_model_development"
        )
    return str(found.experiment_id)


def local_store(root: str | Path) -> tuple[str, str]:
    """The tracking URI and the artifact location of the local store of the project at
    ``root``, by absolute path: ``("sqlite:////abs/root/mlflow.db", "file:///abs/root/mlruns")``."""
    absolute = Path(root).resolve()
    return f"sqlite:///{absolute / LOCAL_STORE}", (absolute / LOCAL_ARTIFACTS).as_uri()


def check_server(uri: str, timeout_s: float, shown_as: str) -> None:
    """Raise :class:`UserError` unless the tracking server at ``uri`` answers ``GET /health``
    within ``timeout_s``, asked once, through MLflow's own HTTP client (its TLS settings)."""
    try:
        response = http_request(
            get_default_host_creds(uri), "/health", "GET",
            max_retries=0, backoff_factor=0, timeout=timeout_s, raise_on_status=False,
        )  # fmt: skip
    except MlflowException as exc:
        # With no retries urllib3 reports a read timeout as a connection error.
        timed_out = isinstance(exc.__cause__, requests.exceptions.Timeout)
        if timed_out or "timed out" in str(exc).lower():
            reason = f"no answer within {timeout_s:g} s"
        elif "refused" in str(exc).lower():
            reason = "connection refused"
        else:
            reason = "cannot connect"
    else:
        if response.status_code == 200:
            return
        reason = f"GET /health answered HTTP {response.status_code}, not an MLflow server's OK"
    raise UserError(
        f"MLflow tracking server {shown_as}: {reason}; check that the server is running and "
        "that MLFLOW_TRACKING_URI names it (MLFLOW_HTTP_REQUEST_TIMEOUT sets the wait)"
    )


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http://me:secret@host:5000`` -> ``("http://host:5000", "me", "secret")``: MLflow
    prints its tracking URI after every run, so credentials go to it another way. Other
    URIs come back unchanged, with ``None`` twice."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return uri, None, None
    host = parts.netloc.rpartition("@")[2]
    password = None if parts.password is None else unquote(parts.password)
    return urlunsplit(parts._replace(netloc=host)), unquote(parts.username), password


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


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit, or ``"uncommitted"`` outside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    return out.stdout.strip()


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


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """``Intel(R) Xeon(R) Processor (avx2 avx512f avx512_bf16 amx_bf16)``: the model name and
    which of :data:`CPU_FLAGS` it has; ``platform.processor()`` where there is no cpuinfo."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    first_cpu = text.split("\n\n", 1)[0]
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in first_cpu.splitlines())
    }
    name = fields.get("model name", "")
    flags = set(fields.get("flags", "").split())
    return f"{name or platform.machine()} ({' '.join(f for f in CPU_FLAGS if f in flags)})"


def numerics_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """The numerics mode this process runs in (``portable`` when its environment carries
    every pin of :mod:`imgclf.numerics`) and, where torch is loaded, ATen's CPU capability
    (``AVX2``, ``AVX512``, ``DEFAULT``): what decided the bits of this run's results."""
    tags = {TAG_NUMERICS: numerics.mode_in_effect(environ)}
    torch = sys.modules.get("torch")  # the data stages never load it: no capability to tell
    if torch is not None:
        tags[TAG_CPU_CAPABILITY] = str(torch.backends.cpu.get_cpu_capability())
    return tags


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux counts ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mask_password(url: str) -> str:
    """``postgresql://me:secret@host/db`` -> ``postgresql://me:***@host/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def log_params_flat(section: str, values: dict[str, Any]) -> None:
    """Log a params section as ``section.key`` MLflow params (lists as strings)."""
    mlflow.log_params({f"{section}.{key}": value for key, value in values.items()})
