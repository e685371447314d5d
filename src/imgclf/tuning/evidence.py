"""Can we prove the chosen hyperparameters? Every complete trial compared with the best on
the same validation images, a verdict in one line, and ``tune.select``.

Each complete trial recorded its predicted class for every validation image
(:data:`~imgclf.tuning.objective.USER_ATTR_PREDICTIONS`). From those:

* every trial's val accuracy gets a 95% bootstrap interval, and its difference to the best
  trial a paired interval and McNemar's exact p-value: the statistics and the code of the
  evaluate stage (:mod:`imgclf.evaluation.significance`). With ``tune.folds`` the
  difference is that of the mean per-fold accuracy and the test is Nadeau and Bengio's
  corrected resampled t-test (:func:`~imgclf.evaluation.significance.compare_folds`);
* a trial is *tied* with the best when that test does not reject "no difference" at
  ``tune.alpha``. Each comparison is made at ``tune.alpha`` on its own (no correction for
  the number of trials), so fewer trials count as tied than a corrected test would find;
* ``tune.select: simplest_tied`` picks, among the tied trials, the one whose network has the
  fewest forward FLOPs per image (:mod:`imgclf.models.cost`), then the fewest parameters,
  then the better rank; ``best`` keeps the best trial.

Picking the highest of several noisy scores rewards the luckiest trial (the winner's curse):
the verdict says when the winner cannot be told apart from the runner-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial

from imgclf.evaluation.significance import (
    PairedComparison,
    accuracy_interval,
    compare_accuracy,
    compare_folds,
)
from imgclf.tuning.objective import (
    USER_ATTR_FLOPS,
    USER_ATTR_PARAMETERS,
    USER_ATTR_PREDICTIONS,
)

TEST_NAMES = {
    "mcnemar_exact": "McNemar's exact test",
    "corrected_resampled_t": "the corrected resampled t-test over folds",
}


@dataclass(frozen=True)
class TrialEvidence:
    """One complete trial: its val accuracy on the recorded predictions, with its 95%
    interval, and its paired comparison with the best trial (None for the best itself)."""

    number: int
    val_acc: float
    low: float
    high: float
    versus_best: PairedComparison | None
    forward_flops: int | None
    parameters: int | None

    def tied(self, alpha: float) -> bool:
        return self.versus_best is None or self.versus_best.p_value >= alpha


@dataclass(frozen=True)
class StudyEvidence:
    """The complete trials with predictions, best first, at significance level ``alpha``."""

    trials: list[TrialEvidence]
    alpha: float
    images: int
    defaults: int | None  # the number of the trial run with params.yaml's own values

    @property
    def tied(self) -> list[TrialEvidence]:
        return [trial for trial in self.trials if trial.tied(self.alpha)]

    def verdict(self) -> str:
        """One line: is the best trial proven better than the runner-up, and how many tie."""
        best = self.trials[0]
        head = f"best trial {best.number} (val_acc {best.val_acc:.3f} on {self.images} images)"
        if len(self.trials) == 1:
            return f"{head} is the only complete trial: nothing to compare it with"
        runner_up = self.trials[1]
        versus = runner_up.versus_best
        assert versus is not None
        proven = versus.p_value < self.alpha
        return (
            f"{head} is {'' if proven else 'not '}proven better than the runner-up, trial "
            f"{runner_up.number} ({runner_up.val_acc:.3f}): {TEST_NAMES[versus.test]} "
            f"p = {versus.p_value:.3g} {'<' if proven else '>='} tune.alpha {self.alpha:g}; "
            f"{len(self.tied)} of {len(self.trials)} complete trials are tied with it"
        )

    def defaults_line(self) -> str:
        """One line: how the params in params.yaml did against the best trial."""
        found = [trial for trial in self.trials if trial.number == self.defaults]
        if not found:
            return "params.yaml's own values: not among the complete trials"
        trial = found[0]
        if trial.versus_best is None:
            return (
                f"params.yaml's own values (trial {trial.number}) are the best trial: "
                "tuning found nothing better"
            )
        versus = trial.versus_best
        paid = versus.p_value < self.alpha
        # "Behind" counts up from the best; + 0.0 turns -0.0 into 0.0.
        behind, low, high = -versus.delta + 0.0, -versus.high + 0.0, -versus.low + 0.0
        return (
            f"params.yaml's own values (trial {trial.number}, val_acc {trial.val_acc:.3f}) are "
            f"{behind:.3f} behind the best (95% CI {low:.3f} to {high:.3f}), "
            f"p = {versus.p_value:.3g}: tuning {'paid' if paid else 'is not proven to pay'} "
            f"at tune.alpha {self.alpha:g}"
        )

    def select(self, rule: str) -> tuple[TrialEvidence, str]:
        """The trial ``tune.select`` keeps, and one line saying why."""
        best = self.trials[0]
        if rule == "best":
            return best, (
                f"tune.select best: trial {best.number}, the highest val_acc (of equal ones, "
                "the lowest val_loss)"
            )
        tied = self.tied
        chosen = min(
            tied,
            key=lambda t: (t.forward_flops or math.inf, t.parameters or math.inf),
        )  # min keeps the first (best-ranked) of equally cheap trials
        return chosen, (
            f"tune.select simplest_tied: trial {chosen.number}, the cheapest of the {len(tied)} "
            f"trial(s) tied with the best (trial {best.number}) at tune.alpha {self.alpha:g}; "
            "cheapest = fewest forward FLOPs per image (torch.utils.flop_counter), "
            f"{_count(chosen.forward_flops)} FLOPs and {_count(chosen.parameters)} parameters"
        )

    def as_dict(self) -> dict[int, dict[str, Any]]:
        """Each trial's figures for ``reports/tune.json``, by trial number."""
        out = {}
        for trial in self.trials:
            entry: dict[str, Any] = {
                "val_acc": trial.val_acc,
                "val_acc_ci95_low": trial.low,
                "val_acc_ci95_high": trial.high,
                "tied_with_best": trial.tied(self.alpha),
            }
            if trial.versus_best is not None:
                versus = trial.versus_best
                entry["versus_best"] = {
                    "delta": versus.delta,
                    "delta_ci95_low": versus.low,
                    "delta_ci95_high": versus.high,
                    "p_value": versus.p_value,
                    "test": versus.test,
                    "n": versus.n,
                }
            out[trial.number] = entry
        return out


def study_evidence(
    ranked: list[FrozenTrial],
    rows: pd.DataFrame,
    classes: list[str],
    *,
    alpha: float,
    folds: bool,
    max_train_images: int | None,
    defaults: dict[str, Any] | None,
) -> StudyEvidence | None:
    """The evidence of the complete trials ``ranked`` (best first) that recorded predictions
    for the validation ``rows`` (:func:`~imgclf.tuning.objective.validation_rows`); None
    when the best trial has none (a study run by an older version)."""
    kept = [t for t in ranked if len(t.user_attrs.get(USER_ATTR_PREDICTIONS, ())) == len(rows)]
    if not kept or kept[0].number != ranked[0].number:
        return None
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[str(label)] for label in rows["label"]], dtype=np.int64)
    predicted = {t.number: np.asarray(t.user_attrs[USER_ATTR_PREDICTIONS]) for t in kept}
    best = predicted[kept[0].number]
    compare = (
        _fold_comparison(rows, truth, max_train_images)
        if folds
        else lambda new, old: compare_accuracy(truth, new, old)
    )
    trials = []
    for position, trial in enumerate(kept):
        interval = accuracy_interval(truth, predicted[trial.number])
        trials.append(
            TrialEvidence(
                number=trial.number,
                val_acc=float(np.mean(predicted[trial.number] == truth)),
                low=interval.low,
                high=interval.high,
                versus_best=None if position == 0 else compare(predicted[trial.number], best),
                forward_flops=trial.user_attrs.get(USER_ATTR_FLOPS),
                parameters=trial.user_attrs.get(USER_ATTR_PARAMETERS),
            )
        )
    return StudyEvidence(trials, alpha, len(rows), _defaults_trial(kept, defaults))


def _fold_comparison(rows: pd.DataFrame, truth: np.ndarray, max_train_images: int | None) -> Any:
    """``(new, old) -> PairedComparison`` over the folds of ``rows``."""
    fold = rows["fold"].to_numpy()
    names = sorted(set(fold))
    val_images = len(rows) / len(names)
    # A fold trains on the others' images, at most tune.max_train_images of them.
    train_images = min(len(rows) - val_images, max_train_images or math.inf)

    def per_fold(predicted: np.ndarray) -> np.ndarray:
        right = predicted == truth
        return np.array([right[fold == name].mean() for name in names])

    def compare(new: np.ndarray, old: np.ndarray) -> PairedComparison:
        return compare_folds(
            per_fold(new), per_fold(old), train_images=train_images, val_images=val_images
        )

    return compare


def _defaults_trial(trials: list[FrozenTrial], defaults: dict[str, Any] | None) -> int | None:
    if defaults is None:
        return None
    for trial in trials:
        if trial.params.keys() == defaults.keys() and all(
            _same(trial.params[key], value) for key, value in defaults.items()
        ):
            return trial.number
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(float(a), float(b), rel_tol=1e-12)
    return bool(a == b)


def _count(value: int | None) -> str:
    if value is None:
        return "unknown"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def prediction_table(
    rows: pd.DataFrame,
    classes: list[str],
    evidence: StudyEvidence | None,
    trials: list[FrozenTrial],
) -> pd.DataFrame:
    """``reports/tune_predictions.csv``: one row per validation image (path, sha256, label,
    and fold with ``tune.folds``), one column ``trial_<n>`` of predicted labels per trial of
    ``evidence``, in trial-number order."""
    columns = ["path", "sha256", "label", *(["fold"] if "fold" in rows else [])]
    table = rows[columns].reset_index(drop=True)
    by_number = {trial.number: trial for trial in trials}
    names = np.asarray(classes, dtype=object)
    for number in sorted(trial.number for trial in (evidence.trials if evidence else [])):
        predicted = np.asarray(by_number[number].user_attrs[USER_ATTR_PREDICTIONS])
        table[f"trial_{number}"] = names[predicted]
    return table
