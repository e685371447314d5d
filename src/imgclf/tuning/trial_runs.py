"""MLflow for trials: one nested run per trial under the worker's parent run.

The run carries the trial's params, its per-epoch ``val_acc``/``val_loss`` (step = epoch),
its wall-clock ``duration_s`` (kept out of the versioned ``reports/tune.json``) and its final
state as the tag ``imgclf.trial_state`` (complete, pruned or failed). Under multi-GPU
training only the rank-zero process logs, so a trial is one run, not one per GPU.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import mlflow
import optuna
import pandas as pd
from lightning.pytorch.utilities import rank_zero_only

from imgclf.tracking import TAG_GIT_COMMIT

TAG_TRIAL = "imgclf.trial"
TAG_TRIAL_STATE = "imgclf.trial_state"
TAG_STUDY = "imgclf.study"
TAG_STORAGE = "imgclf.optuna_storage"
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def study_tags(study_name: str, storage_display: str, worker: int) -> dict[str, str]:
    """Tags of a worker's parent run: the study, its storage (password masked), the worker."""
    return {TAG_STUDY: study_name, TAG_STORAGE: storage_display, "imgclf.worker": str(worker)}


@contextlib.contextmanager
def trial_run(trial: optuna.Trial, values: dict[str, Any], enabled: bool = True) -> Iterator[None]:
    """Hold a nested MLflow run around one trial; tag its final state on the way out.

    Logs nothing when ``enabled`` is false, no parent run is active (library use), or this
    is not the rank-zero process.
    """
    if not (enabled and mlflow.active_run() is not None and _is_rank_zero()):
        yield
        return
    parent = mlflow.active_run()
    assert parent is not None
    # The parent's tags as they are now (ActiveRun.data is a snapshot from its start).
    inherited = mlflow.get_run(parent.info.run_id).data.tags
    tags = {k: v for k, v in inherited.items() if k.startswith("imgclf.") or k == TAG_GIT_COMMIT}
    tags[TAG_TRIAL] = str(trial.number)
    mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, tags=tags)
    mlflow.log_params(values)
    started = time.monotonic()
    # Run status follows the trial: FINISHED complete, KILLED pruned, FAILED failed.
    try:
        yield
    except optuna.TrialPruned:
        _log_intermediate(trial)
        _end_trial_run("pruned", "KILLED", started)
        raise
    except BaseException:
        _end_trial_run("failed", "FAILED", started)
        raise
    _end_trial_run("complete", "FINISHED", started)


def _end_trial_run(state: str, status: str, started: float) -> None:
    mlflow.set_tag(TAG_TRIAL_STATE, state)
    mlflow.log_metric("duration_s", round(time.monotonic() - started, 3))
    mlflow.end_run(status=status)


def log_epoch_history(history: pd.DataFrame, *, prefix: str = "") -> None:
    """Log a fit's per-epoch metrics to the active run with step = epoch."""
    if mlflow.active_run() is None or not _is_rank_zero():
        return
    for row in history.to_dict("records"):
        metrics = {
            f"{prefix}{name}": float(row[name])
            for name in EPOCH_METRICS
            if name in row and not math.isnan(float(row[name]))
        }
        mlflow.log_metrics(metrics, step=int(row["epoch"]))


def _log_intermediate(trial: optuna.Trial) -> None:
    # A pruned fit returns no history; what the pruner saw is the trial's reported val_acc.
    frozen = trial.study.get_trials(deepcopy=False)[trial.number]
    for epoch, value in sorted(frozen.intermediate_values.items()):
        mlflow.log_metric("val_acc", float(value), step=int(epoch) + 1)


def _is_rank_zero() -> bool:
    # Lightning sets rank_zero_only.rank in every process of a distributed run.
    return getattr(rank_zero_only, "rank", 0) == 0
