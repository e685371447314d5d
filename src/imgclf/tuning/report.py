"""What a study leaves behind: ``reports/tune.json`` (every trial) and
``models/best_params.yaml`` (a flat mapping of dotted keys the train stage applies with
:func:`imgclf.config.with_overrides`).

Both are versioned, so they hold only what the same params and data reproduce: no trial
durations or start times (each trial's MLflow run has those, and its ``duration_s``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from imgclf.atomic import write_json, write_yaml
from imgclf.errors import UserError
from imgclf.tuning.objective import USER_ATTR_VAL_LOSS
from imgclf.tuning.study import OVER_BUDGET


def best_params(study: optuna.Study) -> dict[str, Any]:
    """The best complete trial's params as ``{"train.lr": 0.0042, "model.width": 32}``.

    Raises :class:`UserError` when no trial completed (all pruned or failed).
    """
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UserError(
            f"tune: study {study.study_name!r} has no complete trial (all pruned or failed); "
            "see reports/tune.json, then widen tune.space, raise tune.max_epochs "
            "or use tune.pruner none"
        )
    return {key: _plain(value) for key, value in best_trial(study).params.items()}


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The complete trial with the highest val accuracy; ties go to the lowest val loss.

    Optuna's own ``study.best_trial`` keeps the first of tied trials, and on a small val
    split many trials reach the same accuracy, so the loss decides between them.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(
        complete,
        key=lambda t: (-float(t.value or 0.0), t.user_attrs.get(USER_ATTR_VAL_LOSS, math.inf)),
    )


def study_report(study: optuna.Study, n_trials: int, storage: str) -> dict[str, Any]:
    """Every trial of ``study`` with its state, value, params and per-epoch values."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = best_trial(study) if complete else None
    return {
        "study": study.study_name,
        "storage": storage,
        "direction": "maximize",
        "objective": "val_acc",
        "n_trials": n_trials,
        "counts": counts,
        "best": None
        if best is None
        else {"number": best.number, "value": best.value, "params": best_params(study)},
        "trials": [_trial_entry(t) for t in trials],
    }


def write_study_outputs(
    study: optuna.Study,
    *,
    n_trials: int,
    storage: str,
    report: Path,
    best: Path,
    resolved: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the report and the best params atomically; return the report.

    ``resolved`` adds the values that params.yaml left to the data (``model.depth: auto``),
    so that best_params.yaml shows everything the final model is built with.
    """
    document = study_report(study, n_trials, storage)
    write_yaml(best, {**(resolved or {}), **best_params(study)})
    write_json(report, document)
    return document


def _trial_entry(trial: FrozenTrial) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": _plain(trial.value) if trial.value is not None else None,
        "params": {key: _plain(value) for key, value in trial.params.items()},
        "val_acc_by_epoch": {
            int(step) + 1: value for step, value in sorted(trial.intermediate_values.items())
        },
    }
    if "failed_trial" in trial.system_attrs:
        entry["retry_of"] = trial.system_attrs["failed_trial"]
    if OVER_BUDGET in trial.user_attrs:
        entry["note"] = "not run: the study's n_trials were already taken by other workers"
    entry.update({key: value for key, value in trial.user_attrs.items() if key != OVER_BUDGET})
    return entry


def _plain(value: Any) -> Any:
    """NumPy scalars and NaN as plain YAML/JSON values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
