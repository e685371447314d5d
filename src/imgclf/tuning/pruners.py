"""Pruners by name. Steps are epochs: the Lightning pruning callback reports ``val_acc``
once per validation epoch, numbered from 0."""

from __future__ import annotations

import optuna


def warmup_epochs(max_epochs: int) -> int:
    """Epochs a trial trains before any pruner judges it: the first half of its schedule.

    A trial's learning rate warms up and its accuracy leaves chance only some epochs in (on
    64 px photos, trials of 4 epochs ended at chance; BENCHMARKS.md, "Photos at 64 px");
    judged at its first epoch, a trial that would have won looks like one that never learns.
    """
    return max(1, max_epochs // 2)


def build_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """``none`` | ``median`` | ``hyperband`` as Optuna pruners for trials of ``max_epochs``.

    Both wait for :func:`warmup_epochs`: the median pruner through ``n_warmup_steps`` (and for
    two finished trials, ``n_startup_trials``, so a trial is judged against real
    competitors), Hyperband through its smallest rung, ``min_resource``.
    """
    if name == "none":
        return optuna.pruners.NopPruner()
    warmup = warmup_epochs(max_epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=warmup, max_resource=max_epochs, reduction_factor=3
        )
    raise ValueError(f"unknown pruner {name!r}")
