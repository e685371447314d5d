"""imgclf: a reproducible image-classification pipeline (DVC + MLflow + Optuna + Lightning)."""

__version__ = "0.1.0"
