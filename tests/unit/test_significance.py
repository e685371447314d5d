"""The intervals and paired tests are scipy's and statsmodels', on a handmade table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, log_loss
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from imgclf.evaluation import significance
from imgclf.evaluation.metrics import per_class_table
from imgclf.evaluation.significance import (
    BOOTSTRAP_SEED,
    MCNEMAR,
    N_RESAMPLES,
    RESAMPLED_ELEMENTS,
    accuracy_interval,
    compare_accuracy,
    compare_metric,
    f1_macro_interval,
    headline_intervals,
    resample_batch,
)

# 12 test images of 3 classes. The model gets 10 right, the baseline 7; they disagree on 5:
# the model alone is right on 4 (images 2, 5, 8, 11), the baseline alone on 1 (image 9).
TRUTH = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
MODEL = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 0, 2, 2])
BASELINE = np.array([0, 0, 1, 0, 1, 0, 1, 2, 1, 2, 2, 0])


def _scipy_interval(data, statistic, n_resamples=N_RESAMPLES, **options):
    result = stats.bootstrap(
        data, statistic, n_resamples=n_resamples, method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED), **options,
    )  # fmt: skip
    return result.confidence_interval


def test_accuracy_and_f1_intervals_are_scipys_bootstrap():
    correct = (TRUTH == MODEL).astype(float)
    expected = _scipy_interval((correct,), np.mean)
    got = accuracy_interval(TRUTH, MODEL)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    assert got.low < 10 / 12 < got.high

    def f1(t, p):
        return f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=0)

    # scikit-learn per resample is slow: 100 resamples are enough to hold the two equal.
    expected = _scipy_interval((TRUTH, MODEL), f1, 100, paired=True, vectorized=False)
    got = f1_macro_interval(TRUTH, MODEL, 3, n_resamples=100)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))


def test_model_versus_baseline_is_mcnemars_exact_test_and_a_paired_interval():
    versus = compare_accuracy(TRUTH, MODEL, BASELINE)
    assert versus.delta == pytest.approx(3 / 12) and versus.n == 12 and versus.test == MCNEMAR
    # Both right on 6, model only 4, baseline only 1, both wrong 1.
    assert versus.p_value == pytest.approx(mcnemar([[6, 4], [1, 1]], exact=True).pvalue)
    assert versus.p_value == pytest.approx(0.375)  # 2 * P(Binomial(5, 1/2) <= 1)
    differences = (TRUTH == MODEL).astype(float) - (TRUTH == BASELINE).astype(float)
    expected = _scipy_interval((differences,), np.mean)
    assert (versus.low, versus.high) == pytest.approx((expected.low, expected.high))
    assert versus.low < 0 < versus.high  # 3 images apart on 12 proves nothing


def test_headline_keys_of_metrics_json_are_reproducible():
    first = headline_intervals(TRUTH, MODEL, 3, BASELINE)
    assert set(first) == {
        "accuracy_ci95_low", "accuracy_ci95_high", "f1_macro_ci95_low", "f1_macro_ci95_high",
        "baseline_delta", "baseline_delta_ci95_low", "baseline_delta_ci95_high",
        "baseline_p_value",
    }  # fmt: skip
    assert headline_intervals(TRUTH, MODEL, 3, BASELINE) == first


def test_identical_predictions_differ_by_zero_with_p_one():
    same = compare_accuracy(TRUTH, MODEL, MODEL.copy())
    assert (same.delta, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_other_metrics_use_a_paired_bootstrap_of_the_same_images():
    rng = np.random.default_rng(3)
    new = rng.dirichlet(np.ones(3), size=len(TRUTH))
    new[np.arange(len(TRUTH)), TRUTH] += 2.0
    new /= new.sum(axis=1, keepdims=True)
    old = rng.dirichlet(np.ones(3), size=len(TRUTH))

    def loss(y, probs):  # the log-loss, without scikit-learn's per-call checks
        return float(-np.mean(np.log(probs[np.arange(len(y)), y])))

    assert loss(TRUTH, new) == pytest.approx(log_loss(TRUTH, new))
    versus = compare_metric(loss, TRUTH, new, old, n_resamples=500)
    assert versus.delta == pytest.approx(loss(TRUTH, new) - loss(TRUTH, old))
    index = np.arange(len(TRUTH))
    expected = stats.bootstrap(
        (index,), lambda i: loss(TRUTH[i], new[i]) - loss(TRUTH[i], old[i]), vectorized=False,
        n_resamples=500, method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED),
    )  # fmt: skip
    interval = expected.confidence_interval
    assert (versus.low, versus.high) == pytest.approx((interval.low, interval.high))
    assert versus.high < 0 and versus.p_value < 0.05  # the confident model is clearly better


def test_per_class_recall_carries_wilson_intervals():
    table = per_class_table(TRUTH, MODEL, ["a", "b", "c"])
    low, high = proportion_confint([4, 3, 3], [4, 4, 4], alpha=0.05, method="wilson")
    assert table["recall_ci95_low"].tolist() == pytest.approx(list(low))
    assert table["recall_ci95_high"].tolist() == pytest.approx(list(high))
    assert table["recall_ci95_low"].iloc[0] < 0.6  # 4 of 4 right says little


def test_bootstrap_interval_memory_is_batched(monkeypatch):
    calls = []
    bootstrap = stats.bootstrap

    def spy(data, statistic, **options):
        calls.append((len(data[0]), options.get("batch")))
        return bootstrap(data, statistic, **options)

    monkeypatch.setattr(significance.stats, "bootstrap", spy)
    headline_intervals(TRUTH, MODEL, 3, BASELINE)
    compare_metric(lambda y, p: float(np.mean(p.argmax(axis=1) == y)), TRUTH,
                   np.eye(3)[MODEL], np.eye(3)[BASELINE], n_resamples=20)  # fmt: skip
    assert len(calls) == 4 and all(batch == resample_batch(n) for n, batch in calls)
    # 2,000 resamples of 100,000 test images: 41 at a time, 4.1 million indices, not 200 million.
    assert resample_batch(100_000) == 41
    assert resample_batch(1) == RESAMPLED_ELEMENTS and resample_batch(10**8) == 1


def test_batched_intervals_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 360)
    model = np.where(rng.random(360) < 0.8, truth, rng.integers(0, 4, 360))
    baseline = np.where(rng.random(360) < 0.7, truth, rng.integers(0, 4, 360))
    one_pass = headline_intervals(truth, model, 4, baseline)  # 2**22 // 360: one batch
    monkeypatch.setattr(significance, "RESAMPLED_ELEMENTS", 7 * 360)  # 7 resamples a batch
    assert headline_intervals(truth, model, 4, baseline) == one_pass
