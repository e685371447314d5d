"""The pipeline's paths as ``dvc.yaml`` declares them (its ``vars: paths:``).

``dvc repro`` passes every path as an argument; these are only the defaults of a command a
person types in the project root, such as a team member joining a study with
``imgclf tune --study NAME --storage URL``. Nothing reads ``dvc.yaml`` at run time:
``tests/unit/test_stage_deps.py`` keeps this mapping equal to its ``vars``.
"""

from __future__ import annotations

DEFAULT_PATHS: dict[str, str] = {
    "images": "data/images",
    "manifest": "data/manifest.csv",
    "classes": "data/classes.json",
    "rejected": "reports/rejected.csv",
    "validation": "reports/validation.json",
    "validation_docs": "reports/validation_docs",
    "splits": "data/splits",
    "augment": "models/augment.json",
    "augment_preview": "reports/augment_preview.png",
    "best_params": "models/best_params.yaml",
    "tune_report": "reports/tune.json",
    "tune_plots": "reports/tune_plots",
    "tune_predictions": "reports/tune_predictions.csv",
    "optuna_db": "models/optuna.db",
    "optuna_journal": "models/optuna.journal",
    "checkpoints": "models/checkpoints",
    "model": "models/model.ckpt",
    "onnx": "models/model.onnx",
    "history": "reports/train_history.csv",
    "metrics": "metrics.json",
    "plots": "plots",
    "per_class_report": "reports/per_class.csv",
    "confusion_png": "reports/confusion_matrix.png",
    "confusion_normalized_png": "reports/confusion_matrix_normalized.png",
    "curves_png": "reports/roc_pr_curves.png",
    "misclassified_png": "reports/misclassified.png",
    "predictions": "reports/predictions.csv",
    "calibration_png": "reports/calibration.png",
}
