"""What a study leaves behind: ``reports/tune.json`` (every trial, with its evidence),
``reports/tune_predictions.csv`` (every complete trial's validation predictions, from which
the evidence is recomputed) and ``models/best_params.yaml`` (the ``tune.select`` trial's
params as a flat mapping of dotted keys the train stage applies with
:func:`imgclf.config.with_overrides`, after a comment saying why that trial).

Both are versioned, so they hold only what the same params and data reproduce: no trial
durations or start times (each trial's MLflow run has those, and its ``duration_s``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from imgclf.atomic import write_csv, write_json, write_yaml
from imgclf.config import TuneConfig
from imgclf.errors import UserError
from imgclf.tuning.evidence import StudyEvidence, prediction_table, study_evidence
from imgclf.tuning.objective import USER_ATTR_PREDICTIONS, USER_ATTR_VAL_LOSS
from imgclf.tuning.study import OVER_BUDGET


@dataclass(frozen=True)
class Choice:
    """The trial ``tune.select`` kept, why, and the evidence behind it (None without
    recorded predictions)."""

    number: int
    reason: str
    evidence: StudyEvidence | None = None


def best_params(study: optuna.Study) -> dict[str, Any]:
    """The best complete trial's params as ``{"train.lr": 0.0042, "model.width": 32}``.

    Raises :class:`UserError` when no trial completed (all pruned or failed).
    """
    return _params_of(ranked_trials(study)[0])


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The complete trials, best first: highest val accuracy, ties to the lowest val loss,
    then the lower number.

    Optuna's own ``study.best_trial`` keeps the first of tied trials, and on a small val
    split many trials reach the same accuracy, so the loss decides between them. Raises
    :class:`UserError` when no trial completed (all pruned or failed).
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise UserError(
            f"tune: study {study.study_name!r} has no complete trial (all pruned or failed); "
            "see reports/tune.json, then widen tune.space, raise tune.max_epochs "
            "or use tune.pruner none"
        )
    return sorted(
        complete,
        key=lambda t: (
            -float(t.value or 0.0),
            t.user_attrs.get(USER_ATTR_VAL_LOSS, math.inf),
            t.number,
        ),
    )


def choose(
    study: optuna.Study,
    rows: pd.DataFrame,
    classes: list[str],
    tune: TuneConfig,
    defaults: dict[str, Any] | None,
) -> Choice:
    """The trial ``tune.select`` keeps among the complete trials, with the evidence from
    their predictions on the validation ``rows``."""
    ranked = ranked_trials(study)
    evidence = study_evidence(
        ranked,
        rows,
        classes,
        alpha=tune.alpha,
        folds=tune.folds,
        max_train_images=tune.max_train_images,
        defaults=defaults,
    )
    if evidence is None:
        return Choice(
            ranked[0].number,
            f"tune.select {tune.select}: trial {ranked[0].number}, the highest val_acc (its "
            "trial recorded no predictions to compare trials with: run `dvc repro --force tune`)",
        )
    chosen, reason = evidence.select(tune.select)
    return Choice(chosen.number, reason, evidence)


def study_report(
    study: optuna.Study, n_trials: int, storage: str, choice: Choice | None = None
) -> dict[str, Any]:
    """Every trial of ``study`` with its state, value, params and per-epoch values; with
    ``choice``, each complete trial's evidence, the verdict and the selected trial."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = ranked_trials(study)[0] if complete else None
    evidence = choice.evidence if choice else None
    figures = evidence.as_dict() if evidence else {}
    document: dict[str, Any] = {
        "study": study.study_name,
        "storage": storage,
        "direction": "maximize",
        "objective": "val_acc",
        "n_trials": n_trials,
        "counts": counts,
        "best": None
        if best is None
        else {"number": best.number, "value": best.value, "params": _params_of(best)},
    }
    if choice is not None:
        chosen = study.get_trials(deepcopy=False)[choice.number]
        document["selected"] = {
            "number": chosen.number,
            "params": _params_of(chosen),
            "reason": choice.reason,
        }
    if evidence is not None:
        document["alpha"] = evidence.alpha
        document["verdict"] = evidence.verdict()
        document["defaults"] = evidence.defaults_line()
        document["tied_with_best"] = [trial.number for trial in evidence.tied]
        runner_up = evidence.trials[1] if len(evidence.trials) > 1 else None
        if runner_up is not None and runner_up.versus_best is not None:
            document["runner_up"] = {
                "number": runner_up.number,
                "p_value": runner_up.versus_best.p_value,
                "test": runner_up.versus_best.test,
            }
    # With evidence, every trial has the key (null for pruned and failed ones).
    extra = (lambda t: {"evidence": figures.get(t.number)}) if evidence else (lambda t: {})
    document["trials"] = [_trial_entry(t) | extra(t) for t in trials]
    return document


def write_study_outputs(
    study: optuna.Study,
    *,
    n_trials: int,
    storage: str,
    report: Path,
    best: Path,
    resolved: dict[str, Any] | None = None,
    choice: Choice | None = None,
    predictions: Path | None = None,
    rows: pd.DataFrame | None = None,
    classes: list[str] | None = None,
) -> dict[str, Any]:
    """Write the report, the chosen trial's params and (with ``choice.evidence``) the
    predictions table atomically; return the report.

    Without ``choice`` the best trial is kept. ``resolved`` adds the values that params.yaml
    left to the data (``model.depth: auto``), so that best_params.yaml shows everything the
    final model is built with.
    """
    document = study_report(study, n_trials, storage, choice)
    chosen = document["selected"] if choice else document["best"]
    comment = choice.reason if choice else ""
    write_yaml(best, {**(resolved or {}), **chosen["params"]}, comment=comment)
    if predictions is not None:  # a DVC output: written even without evidence (no trial columns)
        evidence = choice.evidence if choice else None
        trials = study.get_trials(deepcopy=False)
        assert rows is not None, "the predictions table needs the validation rows"
        write_csv(predictions, prediction_table(rows, classes or [], evidence, trials))
    write_json(report, document)
    return document


def _params_of(trial: FrozenTrial) -> dict[str, Any]:
    return {key: _plain(value) for key, value in trial.params.items()}


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
    hidden = (OVER_BUDGET, USER_ATTR_PREDICTIONS)  # predictions: tune_predictions.csv
    entry.update({key: value for key, value in trial.user_attrs.items() if key not in hidden})
    return entry


def _plain(value: Any) -> Any:
    """NumPy scalars and NaN as plain YAML/JSON values."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
