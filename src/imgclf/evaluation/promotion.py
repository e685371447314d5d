"""The promotion decision: the new model and the champion sat the same exam (this run's test
images); does the new model win, and can the win be told from noise?

:func:`judge` compares the two image by image with the paired test of
:mod:`imgclf.evaluation.significance` (McNemar's exact test for accuracy, a paired
bootstrap for any other metric) and applies ``evaluate.promote_when``:

- ``significant``: promote when the new model is better *and* the test rejects "no
  difference" at ``evaluate.alpha``;
- ``better``: promote when it is strictly better (a tie keeps the champion).

The first model of a registry becomes champion; a champion that cannot sit the exam
(other classes, channels or image size, or a model that fails to load) is kept.
:mod:`imgclf.evaluation.model_registry` then moves the aliases (compare-and-set).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from imgclf.evaluation.metrics import is_better, metric_function
from imgclf.evaluation.significance import (
    MCNEMAR,
    PairedComparison,
    compare_accuracy,
    compare_metric,
)

CHAMPION = "champion"
CHALLENGER = "challenger"
Rule = Literal["significant", "better"]
# Resamples of the paired bootstrap for metrics other than accuracy: each scores both
# models with scikit-learn or torchmetrics (a few ms each), so fewer than for intervals.
METRIC_RESAMPLES = 1000

# The keys of the run's promotion.json artifact, in order.
DECISION_KEYS = (
    "metric", "value", "champion_version", "champion_value", "delta", "delta_ci95_low",
    "delta_ci95_high", "p_value", "n_test", "test", "alpha", "rule", "promoted", "reason",
)  # fmt: skip


@dataclass(frozen=True)
class ChampionExam:
    """The champion as this run found it: its version (None: no champion yet) and either
    its probabilities on this run's test images or why it could not sit the exam."""

    version: str | None
    probabilities: np.ndarray | None = None
    unfit: str | None = None


@dataclass(frozen=True)
class PromotionDecision:
    """Version ``version`` of ``model_name`` against the champion on the same images."""

    model_name: str
    version: str
    alias: str  # CHAMPION or CHALLENGER: the alias the new version holds
    metric: str
    value: float
    champion_version: str | None
    champion_value: float | None  # the champion's figure on *this* run's test images
    delta: float | None
    delta_ci95_low: float | None
    delta_ci95_high: float | None
    p_value: float | None
    n_test: int
    test: str | None  # the paired test's name (None: nothing to compare with)
    alpha: float
    rule: str
    reason: str  # the verdict in words (or why the champion could not sit the exam)

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    def to_dict(self) -> dict[str, Any]:
        """promotion.json: exactly DECISION_KEYS."""
        document = {key: getattr(self, key) for key in DECISION_KEYS if key != "promoted"}
        return {key: self.promoted if key == "promoted" else document[key] for key in DECISION_KEYS}

    def describe(self) -> str:
        """The decision in one line of words, with both figures and the evidence."""
        new = f"{self.model_name} v{self.version} {self.metric} {self.value:.3f}"
        if self.champion_version is None:
            images = f" on {self.n_test} test images" if self.n_test else ""
            return f"{new}{images}: {self.reason}"
        if self.test is None:  # no paired comparison: an unfit champion, or figures only
            known = "" if self.champion_value is None else f" vs {self.champion_value:.3f}"
            return f"{new}{known}: {self.reason}"
        return (
            f"{new} vs champion v{self.champion_version} {self.champion_value:.3f} on the same "
            f"{self.n_test} test images: {_amount(self.metric, self.delta)} "
            f"(95% CI {_amount(self.metric, self.delta_ci95_low, unit=False)} to "
            f"{_amount(self.metric, self.delta_ci95_high, unit=False)}), "
            f"{_test_words(self.test)} p = {self.p_value:.2g} "
            f"{'<' if self.p_value is not None and self.p_value < self.alpha else '>='} "
            f"{self.alpha:g}: {self.reason}"
        )


def judge(
    model_name: str,
    version: str,
    metric: str,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    champion: ChampionExam,
    rule: Rule,
    alpha: float,
    ece_bins: int = 15,
) -> PromotionDecision:
    """Decide on registered ``version``'s ``probabilities`` against ``champion``'s, on the
    same ``y_true``; the aliases are not touched (the registry applies the decision)."""
    score = metric_function(metric, ece_bins)
    value = score(y_true, probabilities)
    decided = _partial(
        model_name, version, metric, value, champion.version, len(y_true), alpha, rule
    )
    if champion.version is None:
        return decided(alias=CHAMPION, reason=f"no champion yet, v{version} is champion")
    if champion.probabilities is None:
        return decided(
            alias=CHALLENGER,
            reason=(
                f"champion v{champion.version} cannot sit this exam ({champion.unfit}); it is "
                f"kept and v{version} is challenger. To promote v{version} anyway, move the "
                "alias in the MLflow UI or with MlflowClient().set_registered_model_alias("
                f'"{model_name}", "champion", "{version}")'
            ),
        )
    comparison = _compare(metric, score, y_true, probabilities, champion.probabilities)
    champion_value = score(y_true, champion.probabilities)
    better = is_better(metric, value, champion_value)
    proven = better and comparison.p_value < alpha
    promote = proven if rule == "significant" else better
    return replace(
        decided(
            alias=CHAMPION if promote else CHALLENGER,
            reason=_verdict(rule, better, proven, version),
        ),
        champion_value=champion_value,
        delta=comparison.delta,
        delta_ci95_low=comparison.low,
        delta_ci95_high=comparison.high,
        p_value=comparison.p_value,
        test=comparison.test,
    )


def lost_race(decision: PromotionDecision, holder: str) -> PromotionDecision:
    """``decision`` after a concurrent evaluate's better version kept the alias."""
    return replace(
        decision,
        alias=CHALLENGER,
        reason=f"{decision.reason}, but a concurrent evaluate's better v{holder} holds it",
    )


def _partial(
    model_name: str,
    version: str,
    metric: str,
    value: float,
    champion_version: str | None,
    n_test: int,
    alpha: float,
    rule: str,
) -> Any:
    def decided(alias: str, reason: str) -> PromotionDecision:
        return PromotionDecision(
            model_name=model_name, version=version, alias=alias, metric=metric, value=float(value),
            champion_version=champion_version, champion_value=None, delta=None,
            delta_ci95_low=None, delta_ci95_high=None, p_value=None, n_test=n_test, test=None,
            alpha=alpha, rule=rule, reason=reason,
        )  # fmt: skip

    return decided


def _compare(
    metric: str, score: Any, y_true: np.ndarray, new: np.ndarray, old: np.ndarray
) -> PairedComparison:
    if metric == "accuracy":
        return compare_accuracy(y_true, new.argmax(axis=1), old.argmax(axis=1))
    return compare_metric(score, y_true, new, old, n_resamples=METRIC_RESAMPLES)


def _verdict(rule: Rule, better: bool, proven: bool, version: str) -> str:
    if rule == "significant":
        if proven:
            return f"proven, v{version} is champion"
        return "not proven, champion kept" if better else "not better, champion kept"
    if better:
        return f"better (promote_when: better), v{version} is champion"
    return "not better, champion kept"


def _amount(metric: str, delta: float | None, unit: bool = True) -> str:
    """A difference in points for proportions (0..1 metrics), raw for log_loss."""
    if delta is None:
        return "n/a"
    if metric == "log_loss":
        return f"{delta:+.3f}"
    return f"{100 * delta:+.1f}" + (" points" if unit else "")


def _test_words(test: str | None) -> str:
    return "McNemar" if test == MCNEMAR else "paired bootstrap"
