"""Every file the evaluate stage declares, written from the one :class:`Evaluation`.

The paths arrive from ``dvc.yaml`` (its ``vars: paths:``) as arguments, so each file name
is written once, there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from imgclf.atomic import write_csv, write_json
from imgclf.data.split_reader import ImageArray
from imgclf.evaluation import plots
from imgclf.evaluation.metrics import confusion_counts
from imgclf.evaluation.predictions import prediction_table, write_predictions
from imgclf.evaluation.scoring import Evaluation


@dataclass(frozen=True)
class EvaluationPaths:
    """``metrics.json``, the DVC plots folder and the report files."""

    metrics: Path
    plots: Path
    per_class_csv: Path
    confusion_png: Path
    confusion_normalized_png: Path
    curves_png: Path
    misclassified_png: Path
    predictions_csv: Path
    calibration_png: Path


def write_evaluation_outputs(
    evaluation: Evaluation,
    test_images: ImageArray,
    test_rows: pd.DataFrame,
    paths: EvaluationPaths,
) -> list[Path]:
    """Write metrics.json, the DVC plot CSVs, the report PNGs/CSVs and the predictions of
    the test split's rows (``test_rows``, in image order); return every path."""
    e = evaluation
    write_json(paths.metrics, e.metrics)
    write_predictions(
        paths.predictions_csv,
        prediction_table(test_rows, e.probabilities, e.class_names, e.baseline_predictions),
    )
    written = plots.write_dvc_plots(
        e.labels, e.probabilities, e.class_names, e.per_class, paths.plots
    )
    write_csv(paths.per_class_csv, e.per_class)
    confusion = confusion_counts(e.labels, e.probabilities.argmax(axis=1), len(e.class_names))
    plots.save_confusion_pngs(
        confusion, e.class_names, paths.confusion_png, paths.confusion_normalized_png
    )
    plots.save_curves_png(e.labels, e.probabilities, e.class_names, paths.curves_png)
    plots.save_misclassified_grid(
        test_images, e.labels, e.probabilities, e.class_names, paths.misclassified_png
    )
    plots.save_calibration_png(
        e.labels, e.probabilities, e.ece_bins, e.metrics["ece"], paths.calibration_png
    )
    reports = [
        paths.predictions_csv,
        paths.calibration_png,
        paths.per_class_csv,
        paths.confusion_png,
        paths.confusion_normalized_png,
        paths.curves_png,
        paths.misclassified_png,
    ]
    return [paths.metrics, *written, *reports]
