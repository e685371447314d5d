"""Test-split metrics from true labels and predicted probabilities.

One flat ``dict[str, float]`` comes out (the evaluate stage writes that same dict to
``metrics.json`` and to MLflow) plus a per-class table. scikit-learn computes the
classification metrics and torchmetrics the calibration error, so the numbers mean what
those libraries document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize
from torchmetrics.functional.classification import multiclass_calibration_error

from imgclf.evaluation.significance import recall_intervals

# Metrics for which a smaller value is better (the registry compares accordingly).
LOWER_IS_BETTER = frozenset({"log_loss", "ece"})

PER_CLASS_COLUMNS = [
    "class",
    "precision",
    "recall",
    "recall_ci95_low",  # Wilson interval: how little a small class's recall says
    "recall_ci95_high",
    "f1",
    "support",
]

# The keys classification_metrics returns, in order.
METRIC_NAMES = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc_ovr",
    "log_loss",
    "ece",
    "n_test",
)


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, ece_bins: int = 15
) -> dict[str, float]:
    """Flat metrics of ``probs`` (N x C, rows sum to 1) against integer labels ``y_true`` (N).

    Keys: accuracy, balanced_accuracy, precision/recall/f1 _macro and _weighted, roc_auc_ovr
    (one-vs-rest, macro over the classes present in ``y_true``), log_loss, ece and n_test.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.arange(probs.shape[1])
    y_pred = probs.argmax(axis=1)
    out: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
    }
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        out[f"precision_{average}"] = float(precision)
        out[f"recall_{average}"] = float(recall)
        out[f"f1_{average}"] = float(f1)
    out["roc_auc_ovr"] = roc_auc_ovr_macro(y_true, probs)
    out["log_loss"] = _log_loss(y_true, probs)
    out["ece"] = expected_calibration_error(y_true, probs, n_bins=ece_bins)
    out["n_test"] = float(len(y_true))
    return out


def roc_auc_ovr_macro(y_true: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest ROC-AUC averaged over the classes that occur in ``y_true``.

    Equals scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")`` when every
    class occurs; a class missing from a small test split is skipped instead of failing.
    """
    n_classes = probs.shape[1]
    onehot = label_binarize(y_true, classes=np.arange(n_classes))
    if n_classes == 2:
        onehot = np.hstack([1 - onehot, onehot])
    present = [c for c in range(n_classes) if 0 < onehot[:, c].sum() < len(y_true)]
    if not present:
        return float("nan")
    return float(skm.roc_auc_score(onehot[:, present], probs[:, present], average="macro"))


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: confidence vs accuracy gap over ``n_bins`` equal-width bins,
    weighted by the share of samples in each bin."""
    value = multiclass_calibration_error(
        torch.tensor(np.asarray(probs), dtype=torch.float64),
        torch.tensor(np.asarray(y_true), dtype=torch.int64),
        num_classes=probs.shape[1],
        n_bins=n_bins,
        norm="l1",
    )
    return float(value)


def per_class_table(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """Precision, recall (with its Wilson 95% interval), F1 and support of every class, one
    row each, in label order."""
    labels = np.arange(len(class_names))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    recall_low, recall_high = recall_intervals(y_true, y_pred, len(class_names))
    return pd.DataFrame(
        {
            "class": list(class_names),
            "precision": precision,
            "recall": recall,
            "recall_ci95_low": recall_low,
            "recall_ci95_high": recall_high,
            "f1": f1,
            "support": support.astype(int),
        },
        columns=PER_CLASS_COLUMNS,
    )


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """C x C counts: row = true class, column = predicted class."""
    return skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


def metric_function(name: str, ece_bins: int = 15) -> Callable[[np.ndarray, np.ndarray], float]:
    """``(y_true, probs) -> value`` of one :data:`METRIC_NAMES` key (not ``n_test``), as
    :func:`classification_metrics` computes it but alone, for paired resampling."""
    if name == "ece":
        return lambda y_true, probs: expected_calibration_error(y_true, probs, ece_bins)
    if name == "roc_auc_ovr":
        return roc_auc_ovr_macro
    if name == "log_loss":
        return _log_loss
    if name == "accuracy":
        return lambda y_true, probs: float(skm.accuracy_score(y_true, probs.argmax(axis=1)))
    if name == "balanced_accuracy":
        return lambda y_true, probs: float(
            skm.balanced_accuracy_score(y_true, probs.argmax(axis=1))
        )
    score, average = name.rsplit("_", 1)
    position = ("precision", "recall", "f1").index(score)

    def averaged(y_true: np.ndarray, probs: np.ndarray) -> float:
        scores = skm.precision_recall_fscore_support(
            y_true,
            probs.argmax(axis=1),
            labels=np.arange(probs.shape[1]),
            average=average,
            zero_division=0,
        )
        return float(scores[position])

    return averaged


def _log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    # float32 softmax rows sum to 1 only within ~1e-7, which log_loss warns about.
    rescaled = probs / probs.sum(axis=1, keepdims=True)
    return float(skm.log_loss(y_true, rescaled, labels=np.arange(probs.shape[1])))


def is_better(metric: str, new: float, old: float) -> bool:
    """Whether ``new`` strictly beats ``old`` on ``metric`` (ties are not better)."""
    return new < old if metric in LOWER_IS_BETTER else new > old
