"""Samplers by name: Optuna's GridSampler, TPESampler and RandomSampler.

Grid under parallel workers: Optuna 5's GridSampler gives trial number *n* the grid point
*n* for the first ``len(grid)`` trials, and the storage hands out trial numbers atomically,
so workers sharing one study never pick the same point; the study loop
(:mod:`imgclf.tuning.study`) caps ``n_trials`` at the grid size and stops once every point
has a finished trial, so the sampler's random fallback for later trials (which can repeat a
point under concurrency) is not reached in normal operation. Retried trials (heartbeat
failures) carry their grid point with them.
"""

from __future__ import annotations

from collections.abc import Mapping

import optuna

from imgclf.config import SearchDimension, TuneConfig
from imgclf.tuning.space import grid_size, grid_values


def build_sampler(cfg: TuneConfig, seed: int, *, parallel: bool) -> optuna.samplers.BaseSampler:
    """The sampler ``cfg.sampler`` names, seeded with ``seed``.

    ``parallel``: other workers share the study; TPE then uses Optuna's constant liar, so
    a running trial's point is not proposed again to the next worker.
    """
    if cfg.sampler == "grid":
        return optuna.samplers.GridSampler(grid_values(cfg.space), seed=seed)
    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)


def trial_budget(cfg: TuneConfig, space: Mapping[str, SearchDimension] | None = None) -> int:
    """How many finished trials the study needs: ``n_trials``, at most the grid's size."""
    if cfg.sampler != "grid":
        return cfg.n_trials
    return min(cfg.n_trials, grid_size(grid_values(space if space is not None else cfg.space)))
