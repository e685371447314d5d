"""Metric values against examples small enough to compute by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgclf.evaluation.metrics import (
    METRIC_NAMES,
    classification_metrics,
    confusion_counts,
    expected_calibration_error,
    is_better,
    metric_function,
    per_class_table,
)

# 3 classes, 6 images. Predictions (argmax): 0, 0, 1, 2, 2, 1  vs truth 0, 0, 1, 1, 2, 2.
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.6, 0.3, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.3, 0.6],
        [0.1, 0.1, 0.8],
        [0.2, 0.5, 0.3],
    ]
)


@pytest.fixture(scope="module")
def metrics() -> dict[str, float]:
    return classification_metrics(Y_TRUE, PROBS)


def test_accuracy_counts_correct_argmax(metrics):
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["n_test"] == 6


def test_macro_and_weighted_scores_match_hand_computation(metrics):
    # class 0: P=2/2 R=2/2 F1=1; class 1: P=1/2 R=1/2 F1=1/2; class 2: P=1/2 R=1/2 F1=1/2
    assert metrics["precision_macro"] == pytest.approx(2 / 3)
    assert metrics["recall_macro"] == pytest.approx(2 / 3)
    assert metrics["f1_macro"] == pytest.approx(2 / 3)
    assert metrics["f1_weighted"] == pytest.approx(2 / 3)  # equal supports
    assert metrics["balanced_accuracy"] == pytest.approx(2 / 3)


def test_log_loss_is_mean_negative_log_of_true_class_probability(metrics):
    expected = -np.mean(np.log([0.8, 0.6, 0.7, 0.3, 0.8, 0.3]))
    assert metrics["log_loss"] == pytest.approx(expected)


def test_roc_auc_one_vs_rest_macro(metrics):
    # class 0 separates perfectly (1.0). class 1 positives score 0.7, 0.3 against negatives
    # 0.1, 0.3, 0.1, 0.5: pairs won 4 + (1 tie/2 + 2) = 6.5 of 8. class 2 positives 0.8, 0.3
    # against 0.1, 0.1, 0.1, 0.6: 4 + 3 = 7 of 8.
    assert metrics["roc_auc_ovr"] == pytest.approx((1.0 + 6.5 / 8 + 7 / 8) / 3)


def test_ece_of_two_bins_by_hand():
    y_true = np.array([0, 1, 0, 0])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # Two non-empty bins: confidence 0.9 twice with accuracy 1/2 (gap 0.4, weight 1/2) and
    # confidence 0.6 twice with accuracy 1 (gap 0.4, weight 1/2).
    assert expected_calibration_error(y_true, probs, n_bins=10) == pytest.approx(0.4)


def test_perfectly_calibrated_confident_model_has_zero_ece():
    assert expected_calibration_error(np.array([0, 1]), np.eye(2)) == pytest.approx(0.0)


def test_class_absent_from_test_split_is_skipped_by_roc_auc():
    y_true = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.2, 0.2], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    result = classification_metrics(y_true, probs)
    assert result["roc_auc_ovr"] == pytest.approx(1.0)
    assert not math.isnan(result["log_loss"])


def test_per_class_table_and_confusion_counts():
    y_pred = PROBS.argmax(axis=1)
    table = per_class_table(Y_TRUE, y_pred, ["zero", "one", "two"])
    assert list(table["class"]) == ["zero", "one", "two"]
    assert table["f1"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert table["support"].tolist() == [2, 2, 2]
    assert confusion_counts(Y_TRUE, y_pred, 3).tolist() == [[2, 0, 0], [0, 1, 1], [0, 1, 1]]


def test_ties_are_not_better_and_loss_direction_is_respected():
    assert is_better("accuracy", 0.9, 0.8) and not is_better("accuracy", 0.9, 0.9)
    assert is_better("log_loss", 0.1, 0.2) and not is_better("ece", 0.3, 0.2)


@pytest.mark.parametrize("name", [n for n in METRIC_NAMES if n != "n_test"])
def test_each_metric_alone_is_the_value_of_the_full_table(metrics, name):
    assert metric_function(name)(Y_TRUE, PROBS) == pytest.approx(metrics[name])
