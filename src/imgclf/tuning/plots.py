"""The study's plots as PNG, drawn by ``optuna.visualization.matplotlib``."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window, also on a desktop

import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.importance import FanovaImportanceEvaluator  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from imgclf.atomic import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

PLOTS: dict[str, Callable[[optuna.Study], object]] = {
    "optimization_history.png": optuna_plots.plot_optimization_history,
    # fANOVA fits a random forest: unseeded, the committed PNG would change on every run.
    "param_importances.png": lambda study: optuna_plots.plot_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=0)
    ),
    "parallel_coordinate.png": optuna_plots.plot_parallel_coordinate,
}


def save_plots(study: optuna.Study, folder: str | Path) -> list[Path]:
    """Write every plot of :data:`PLOTS` into ``folder`` (replaced atomically).

    A plot Optuna cannot draw yet (parameter importances need two complete trials with
    different params) becomes a PNG that says why, so the folder always has the same files.
    """
    folder = Path(folder)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for name, draw in PLOTS.items():
            _save_one(study, draw, tmp / name)
    return [folder / name for name in PLOTS]


def _save_one(study: optuna.Study, draw: Callable[[optuna.Study], object], path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = draw(study)
        figure = _figure_of(axes)
        figure.set_size_inches(9, 5.5)
        figure.tight_layout()
    except (ValueError, RuntimeError) as exc:
        log.info("%s: not drawn (%s)", path.name, exc)
        figure, axes = plt.subplots(figsize=(9, 5.5))
        axes.axis("off")
        axes.text(
            0.5,
            0.5,
            f"{path.stem.replace('_', ' ')}: not enough trials yet\n{exc}",
            ha="center",
            wrap=True,
        )
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _figure_of(axes: Any) -> Any:
    # Optuna returns one Axes, or an array of them for multi-panel plots.
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure
