"""Evaluation plots: CSVs for ``dvc plots`` and PNGs for people.

DVC renders the CSVs with its own templates (declared in ``dvc.yaml``): ``confusion.csv``
(one row per test image, ``actual`` and ``predicted`` class names, the ``confusion``
template), ``roc/<class>.csv`` and ``pr/<class>.csv`` (one one-vs-rest curve per class, so
``dvc plots diff`` compares a class's curve across revisions) and ``per_class.csv``. The
PNGs use scikit-learn's display classes on bare matplotlib Figures (no pyplot state).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    precision_recall_curve,
    roc_curve,
)

from imgclf.atomic import atomic_path, write_csv
from imgclf.data.split_reader import ImageArray


def write_dvc_plots(
    y_true: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    per_class: pd.DataFrame,
    plots_dir: str | Path,
) -> list[Path]:
    """Write the plot CSVs into ``plots_dir``; return the paths written."""
    plots_dir = Path(plots_dir)
    names = np.asarray(class_names, dtype=object)
    confusion = pd.DataFrame({"actual": names[y_true], "predicted": names[probs.argmax(axis=1)]})
    written = [plots_dir / "confusion.csv", plots_dir / "per_class.csv"]
    write_csv(written[0], confusion)
    write_csv(written[1], per_class)
    with atomic_path(plots_dir / "roc") as roc_dir, atomic_path(plots_dir / "pr") as pr_dir:
        roc_dir.mkdir()
        pr_dir.mkdir()
        for index, name in enumerate(class_names):
            positives = y_true == index
            if positives.all() or not positives.any():
                continue  # a curve needs both positives and negatives
            fpr, tpr, _ = roc_curve(positives, probs[:, index])
            precision, recall, _ = precision_recall_curve(positives, probs[:, index])
            stem = _file_stem(index, name)
            pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(roc_dir / f"{stem}.csv", index=False)
            pd.DataFrame({"recall": recall, "precision": precision}).to_csv(
                pr_dir / f"{stem}.csv", index=False
            )
    return [*written, plots_dir / "roc", plots_dir / "pr"]


def save_confusion_pngs(
    confusion: np.ndarray,
    class_names: Sequence[str],
    raw_path: str | Path,
    normalized_path: str | Path,
) -> None:
    """Confusion matrix with class names: raw counts, and rows normalized to recall."""
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(confusion / confusion.sum(axis=1, keepdims=True))
    for matrix, path, title, fmt in (
        (confusion, raw_path, "Confusion matrix (test images)", "d"),
        (normalized, normalized_path, "Confusion matrix (row-normalized)", ".2f"),
    ):
        size = max(5.0, 0.55 * len(class_names) + 2)
        fig = Figure(figsize=(size, size), layout="constrained")
        ax = fig.subplots()
        display = ConfusionMatrixDisplay(matrix, display_labels=list(class_names))
        display.plot(ax=ax, values_format=fmt, colorbar=False, xticks_rotation="vertical")
        ax.set_title(title)
        _save(fig, path)


def save_curves_png(
    y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], path: str | Path
) -> None:
    """One-vs-rest ROC and precision-recall curves of every class, side by side."""
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    for index, name in enumerate(class_names):
        positives = y_true == index
        if positives.all() or not positives.any():
            continue
        RocCurveDisplay.from_predictions(positives, probs[:, index], name=str(name), ax=roc_ax)
        PrecisionRecallDisplay.from_predictions(
            positives, probs[:, index], name=str(name), ax=pr_ax
        )
    roc_ax.set(title="ROC, one-vs-rest", xlabel="False positive rate", ylabel="True positive rate")
    pr_ax.set(title="Precision-recall, one-vs-rest", xlabel="Recall", ylabel="Precision")
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize="x-small", loc="lower left" if ax is pr_ax else "lower right")
    _save(fig, path)


def save_misclassified_grid(
    images: ImageArray,
    y_true: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    count: int = 25,
) -> int:
    """A grid of the ``count`` test images misclassified with the highest confidence,
    titled ``true -> predicted (p)``. Returns how many were shown. Only the shown images
    are read from ``images`` (an array or a store view)."""
    y_pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    order = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")][:count]
    columns = max(1, min(5, len(order)))
    rows = max(1, -(-len(order) // columns))
    fig = Figure(figsize=(columns * 2.0, rows * 2.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, index in zip(axes, order, strict=False):
        ax.imshow(images[index], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=255)
        truth, guess = class_names[y_true[index]], class_names[y_pred[index]]
        ax.set_title(f"{truth} -> {guess} ({probs[index, y_pred[index]]:.2f})", fontsize=8)
    if not len(order):
        fig.suptitle("No misclassified test images")
    _save(fig, path)
    return len(order)


def save_calibration_png(
    y_true: np.ndarray, probs: np.ndarray, n_bins: int, ece: float, path: str | Path
) -> None:
    """Reliability diagram of the top-label confidence: the accuracy of the test images in
    each of ``n_bins`` equal-width confidence bins (the bins of ``ece``) against their mean
    confidence."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    fig = Figure(figsize=(5.5, 5.5), layout="constrained")
    ax = fig.subplots()
    CalibrationDisplay.from_predictions(
        correct, confidence, n_bins=n_bins, strategy="uniform", name="model", ax=ax
    )
    ax.set(
        title=f"Reliability diagram ({n_bins} bins, ECE {ece:.3f})",
        xlabel="Confidence (top class probability)",
        ylabel="Accuracy in the bin",
    )
    _save(fig, path)


def _file_stem(index: int, name: str) -> str:
    return f"{index:02d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', str(name))}"


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
