"""Pruners by name. Steps are epochs: the Lightning pruning callback reports ``val_acc``
once per validation epoch."""

from __future__ import annotations

import optuna


def build_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """``none`` | ``median`` | ``hyperband`` as Optuna pruners for trials of ``max_epochs``.

    The median pruner waits for two finished trials and the second epoch, so a trial is
    judged against real competitors, not against noise of the first epoch.
    """
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_epochs, reduction_factor=3
        )
    raise ValueError(f"unknown pruner {name!r}")
