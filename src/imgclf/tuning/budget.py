"""``tune.budget``: the study's cost, bounded by a multiple of the final training's.

Costs are counted in image-epochs, images trained on times epochs: a trial trains at most
``tune.max_epochs`` epochs on at most ``tune.max_train_images`` images (once per fold with
``tune.folds``), and the train stage trains ``train.max_epochs`` epochs on the whole train
split. The study then runs at most ``budget x final / per trial`` trials, fewer than
``tune.n_trials`` when that many would cost more. Counting before the study starts keeps
"exactly n trials" true for every worker and machine sharing it, and the cost known up front:
pruned trials only make it cheaper. The study's share of the time then stays the same
whatever the data: on 2,400 photos of 64 px as on 1,437 digits, and on 57,000 Fashion-MNIST
images trials train on a 10,000-image subset while the final training grows with the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from imgclf.config import Params
from imgclf.data.schema import read_split
from imgclf.tuning.objective import read_folds


@dataclass(frozen=True)
class StudyCost:
    """Image-epochs of one trial at most, and of the final training."""

    trial: int
    final: int

    def affordable_trials(self, budget: float) -> int:
        """How many whole trials ``budget`` times the final training pays for (at least 1)."""
        return max(1, math.floor(budget * self.final / self.trial + 1e-9))


def study_cost(params: Params, splits_dir: Path) -> StudyCost:
    """The cost of one trial and of the final training, from the split stage's files."""
    train_images = len(read_split(splits_dir / "train.csv"))
    limit = params.tune.max_train_images or math.inf
    if params.tune.folds:
        folds = read_folds(splits_dir)
        per_fold = [
            min(int((folds["fold"] != fold).sum()), limit) for fold in folds["fold"].unique()
        ]
        trial_images = int(sum(per_fold))
    else:
        trial_images = int(min(train_images, limit))
    return StudyCost(
        trial=params.tune.max_epochs * trial_images,
        final=params.train.max_epochs * train_images,
    )


def budgeted_trials(params: Params, splits_dir: Path, n_trials: int) -> tuple[int, str]:
    """``n_trials`` capped by ``tune.budget`` (None: not capped), and one line saying so."""
    budget = params.tune.budget
    if budget is None:
        return n_trials, f"{n_trials} trials (tune.budget: null, not capped)"
    cost = study_cost(params, splits_dir)
    allowed = min(n_trials, cost.affordable_trials(budget))
    share = allowed * cost.trial / cost.final
    return allowed, (
        f"{allowed} trials of at most {cost.trial:,} image-epochs each: at most {share:.2f}x "
        f"the final training's {cost.final:,} (tune.budget {budget:g}"
        + (f" allows {allowed} of tune.n_trials {n_trials})" if allowed < n_trials else ")")
    )
