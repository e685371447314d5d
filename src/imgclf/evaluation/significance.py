"""How much a test-split figure says: bootstrap intervals, paired comparisons of two models
scored on the same images, and Wilson intervals on per-class recall.

scipy and statsmodels do the statistics (``scipy.stats.bootstrap``, statsmodels'
``mcnemar`` and ``proportion_confint``); this module only says which test fits which
figure. Every resample draws from a generator seeded with ``BOOTSTRAP_SEED``, so the
same predictions always give the same intervals (``metrics.json`` stays reproducible).
Intervals are percentile bootstrap intervals: BCa would need a jackknife over every test
image, which for 10,000 images costs more than the evaluation itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

BOOTSTRAP_SEED = 15
N_RESAMPLES = 2000
# scipy resamples ``batch`` rows of every test image at a time (``batch`` x N indices and as
# many resampled values): about 2**22 of each (32 MiB of int64) at any test-split size. The
# batches draw the same random stream as one pass, so the intervals do not depend on it
# (tests/unit/test_significance.py holds the two equal).
RESAMPLED_ELEMENTS = 2**22
CONFIDENCE = 0.95
MCNEMAR = "mcnemar_exact"
PAIRED_BOOTSTRAP = "paired_bootstrap"
CORRECTED_T = "corrected_resampled_t"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class PairedComparison:
    """``new`` minus ``old`` on the same ``n`` images, its 95% interval and the p-value of
    ``test`` against "no difference"."""

    delta: float
    low: float
    high: float
    p_value: float
    n: int
    test: str


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Callable, **options: Any) -> Any:
    return stats.bootstrap(
        data,
        statistic,
        n_resamples=options.pop("n_resamples", N_RESAMPLES),
        batch=resample_batch(len(data[0])),
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
        **options,
    )


def resample_batch(n_images: int) -> int:
    """Resamples scipy draws at a time for ``n_images`` test images: about
    :data:`RESAMPLED_ELEMENTS` values per array, at least one resample."""
    return max(1, RESAMPLED_ELEMENTS // max(1, n_images))


def accuracy_interval(y_true: np.ndarray, y_pred: np.ndarray) -> Interval:
    """95% bootstrap interval of the accuracy, resampling test images."""
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    result = _bootstrap((correct,), np.mean, vectorized=True)
    return _interval(result)


def f1_macro_interval(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, n_resamples: int = N_RESAMPLES
) -> Interval:
    """95% bootstrap interval of the macro F1, resampling test images."""

    def f1_macro(truth: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
        return _batched_f1_macro(truth, predicted, n_classes)

    result = _bootstrap(
        (np.asarray(y_true), np.asarray(y_pred)),
        f1_macro,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
    )
    return _interval(result)


def _batched_f1_macro(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's ``f1_score(average="macro", labels=range(n_classes), zero_division=0)``
    of each row of (B x N) label arrays at once: one confusion matrix per row from a single
    ``bincount``. Calling scikit-learn per resample costs about 6 ms at 10,000 images, so
    12 s for the interval; this takes a fraction of a second (a test holds the two equal)."""
    truth, predicted = np.atleast_2d(truth), np.atleast_2d(predicted)
    rows = np.arange(truth.shape[0])[:, None]
    cells = (rows * n_classes + truth) * n_classes + predicted
    counts = np.bincount(cells.ravel(), minlength=truth.shape[0] * n_classes**2)
    confusion = counts.reshape(truth.shape[0], n_classes, n_classes)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=1) + confusion.sum(axis=2)  # 2 TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * hits / denominator, 0.0)
    return f1.mean(axis=1)


def headline_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, baseline: np.ndarray | None
) -> dict[str, float]:
    """The ``metrics.json`` keys that say how much the test figures say: accuracy and macro
    F1 intervals and, with ``baseline`` predictions, the paired accuracy difference to the
    baseline with its interval and McNemar p-value."""
    accuracy = accuracy_interval(y_true, y_pred)
    f1 = f1_macro_interval(y_true, y_pred, n_classes)
    out = {
        "accuracy_ci95_low": accuracy.low,
        "accuracy_ci95_high": accuracy.high,
        "f1_macro_ci95_low": f1.low,
        "f1_macro_ci95_high": f1.high,
    }
    if baseline is not None:
        versus = compare_accuracy(y_true, y_pred, baseline)
        out |= {
            "baseline_delta": versus.delta,
            "baseline_delta_ci95_low": versus.low,
            "baseline_delta_ci95_high": versus.high,
            "baseline_p_value": versus.p_value,
        }
    return out


def compare_accuracy(y_true: np.ndarray, new: np.ndarray, old: np.ndarray) -> PairedComparison:
    """Accuracy of predictions ``new`` minus ``old`` on the same images: a paired bootstrap
    interval of the difference and McNemar's exact test on the images they disagree on."""
    y_true = np.asarray(y_true)
    new_right, old_right = np.asarray(new) == y_true, np.asarray(old) == y_true
    differences = new_right.astype(np.float64) - old_right.astype(np.float64)
    # Resampling the per-image differences resamples the same images for both models.
    interval = _interval(_bootstrap((differences,), np.mean, vectorized=True))
    table = [
        [np.sum(new_right & old_right), np.sum(new_right & ~old_right)],
        [np.sum(~new_right & old_right), np.sum(~new_right & ~old_right)],
    ]
    p_value = float(mcnemar(table, exact=True).pvalue)
    return PairedComparison(
        float(differences.mean()), interval.low, interval.high, p_value, len(y_true), MCNEMAR
    )


def compare_metric(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    new_probs: np.ndarray,
    old_probs: np.ndarray,
    n_resamples: int = 1000,
) -> PairedComparison:
    """``metric(y_true, probs)`` of ``new_probs`` minus ``old_probs`` with a paired bootstrap:
    each resample draws one set of test images and scores both models on it.

    The p-value is the bootstrap test's: twice the share of resampled differences on the
    far side of zero (the smallest alpha whose percentile interval excludes 0), at most 1.
    """
    y_true = np.asarray(y_true)

    def difference(index: np.ndarray) -> float:
        return metric(y_true[index], new_probs[index]) - metric(y_true[index], old_probs[index])

    indices = np.arange(len(y_true))
    result = _bootstrap((indices,), difference, vectorized=False, n_resamples=n_resamples)
    spread = np.asarray(result.bootstrap_distribution)
    tail = min(float(np.mean(spread <= 0)), float(np.mean(spread >= 0)))
    return PairedComparison(
        float(difference(indices)),
        *_bounds(result),
        p_value=min(1.0, 2 * tail),
        n=len(y_true),
        test=PAIRED_BOOTSTRAP,
    )


def compare_folds(
    new: np.ndarray, old: np.ndarray, *, train_images: float, val_images: float
) -> PairedComparison:
    """Mean per-fold accuracy of ``new`` minus ``old``, scored on the same k folds: Nadeau and
    Bengio's corrected resampled t-test, with its t interval and two-sided p-value.

    The folds' training sets overlap, so their differences are correlated and the plain
    t-test's variance ``s^2 / k`` is too small; the correction uses
    ``(1/k + val_images/train_images) s^2`` with k - 1 degrees of freedom (Nadeau & Bengio,
    Machine Learning 52, 2003). Bouckaert & Frank (PAKDD 2004) found it the most replicable
    test for k-fold cross-validation; Dietterich's 5x2cv test needs five repetitions of 2
    folds, which a study does not run. ``n`` is the number of folds.
    """
    differences = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
    k = len(differences)
    mean = float(differences.mean())
    variance = float(differences.var(ddof=1)) if k > 1 else 0.0
    error = float(np.sqrt((1 / k + val_images / train_images) * variance))
    if error == 0.0:  # every fold differs by the same amount (often 0: identical models)
        return PairedComparison(mean, mean, mean, 1.0 if mean == 0 else 0.0, k, CORRECTED_T)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1)) * error
    p_value = float(2 * stats.t.sf(abs(mean) / error, k - 1))
    return PairedComparison(mean, mean - half, mean + half, p_value, k, CORRECTED_T)


def recall_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95% intervals (low, high) on each class's recall; NaN for a class with no
    test image."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    support = np.bincount(y_true, minlength=n_classes)
    hits = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    low = np.full(n_classes, np.nan)
    high = np.full(n_classes, np.nan)
    seen = support > 0
    low[seen], high[seen] = proportion_confint(
        hits[seen], support[seen], alpha=1 - CONFIDENCE, method="wilson"
    )
    return low, high


def _bounds(result: Any) -> tuple[float, float]:
    interval = result.confidence_interval
    # A constant statistic (identical models, a perfect score) gives NaN bounds; its
    # interval is the point itself.
    low, high = float(interval.low), float(interval.high)
    if np.isnan(low) or np.isnan(high):
        point = float(np.mean(result.bootstrap_distribution))
        return point, point
    return low, high


def _interval(result: Any) -> Interval:
    return Interval(*_bounds(result))
