"""MLflow conventions in one place.

* Tracking store: whatever ``MLFLOW_TRACKING_URI`` names (the stage passes it in), else
  the local SQLite file ``mlflow.db`` in the project root, artifacts in ``mlruns/``.
* One experiment per project (``mlflow.experiment``).
* Every stage run carries the same tags: git commit, DVC stage name, params hash and
  data manifest hash, so any run can be traced back to the exact inputs; and the CPU it
  ran on, with its peak resident memory as the metric ``peak_rss_mib``, since the speed and
  the bits of a trained model depend on the machine.
"""

from __future__ import annotations

import contextlib
import platform
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow

from imgclf.fingerprint import file_sha256

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

TAG_STAGE = "imgclf.stage"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARAMS_HASH = "imgclf.params_hash"
TAG_MANIFEST_HASH = "imgclf.manifest_sha256"
TAG_CPU = "imgclf.cpu"
METRIC_PEAK_RSS = "peak_rss_mib"
# The CPU features that decide which kernels (and so which speed and which bits) run.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# MLflow 3's UI opens an experiment in its GenAI view unless told it is model training.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"


def configure(tracking_uri: str | None, experiment: str) -> None:
    """Point MLflow at ``tracking_uri`` (or the local default) and select ``experiment``."""
    mlflow.set_tracking_uri(tracking_uri or DEFAULT_TRACKING_URI)
    found = mlflow.set_experiment(experiment)
    if TAG_EXPERIMENT_KIND not in found.tags:
        mlflow.MlflowClient().set_experiment_tag(
            found.experiment_id, TAG_EXPERIMENT_KIND, "custom_model_development"
        )


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
    with mlflow.start_run(
        run_name=stage, tags={TAG_CPU: cpu_description(), **tags}, **start_kwargs
    ) as run:
        yield run
        mlflow.log_metric(METRIC_PEAK_RSS, peak_rss_mib())


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
