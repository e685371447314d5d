"""What pruning saves: the same Optuna study run twice, with ``tune.pruner: median`` and
``none``, side by side.

Both studies have the same budget (``tune.n_trials`` trials of ``tune.max_epochs`` epochs),
seed, sampler and search space, and run through the tune stage's own machinery: a
:class:`~imgclf.tuning.study.StudyPlan` on a fresh SQLite storage (``resolve_storage``, in a
temp dir), :func:`~imgclf.tuning.study.run_study`, and the stage's objective
(``build_objective``, MLflow tracking off, one torch thread on CPU as the stage sets). The
data are the digits as an image store + split CSVs (``bench_data.digits_splits``) and the
augment stage's ``augment.json``. Prints, for each side, the epochs trained in total (the sum
over trials of their reported epochs), trials pruned, wall time and the best validation
accuracy, then both ratios. With TPE, the trials differ after the first pruned one: the
sampler learns from pruned trials too, so the two studies do not walk the same points.

With ``--seeds``, the pair runs once per seed (the seed of the training, the sampler and the
data module) and the ratios are over the epochs and seconds of all seeds together; the
best-accuracy difference is given per seed, as its mean and its worst. The digits' val split
has 180 images, so one image is 0.56 points: a single seed says little about the 0.5-point
bar.

    .venv/bin/python bench/bench_pruning.py
    .venv/bin/python bench/bench_pruning.py --seeds 0 1 2 3 4
    .venv/bin/python bench/bench_pruning.py --n-trials 12 --max-epochs 10
"""

from __future__ import annotations

import argparse
import functools
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from bench_data import digits_splits
from optuna.trial import TrialState

from imgclf.augment import build_augmentation, save_augmentation
from imgclf.config import Params, load_params, with_overrides
from imgclf.tuning.objective import TrialInputs, build_objective
from imgclf.tuning.space import check_space
from imgclf.tuning.storage import resolve_storage
from imgclf.tuning.study import Objective, StudyPlan, finished_trials, run_study


@dataclass(frozen=True)
class StudyOutcome:
    trials: int
    pruned: int
    epochs: int  # epochs trained, summed over trials (one intermediate value per epoch)
    seconds: float
    best_val_acc: float


def objective(params: Params, inputs: TrialInputs, worker: int) -> Objective:
    """The tune stage's objective, untracked; one thread on CPU, as the stage runs trials."""
    threads = 1 if params.train.accelerator == "cpu" else None
    return build_objective(params, inputs, worker, threads=threads, track=False)


def run_pruned_study(params: Params, inputs: TrialInputs, folder: Path) -> StudyOutcome:
    """One study of ``params.tune`` in its own SQLite file under ``folder``."""
    check_space(params.tune.space, params)
    name = f"bench-pruning-{params.tune.pruner}"
    storage = resolve_storage(
        None,
        storage_file=str(folder / f"{name}.db"),
        journal_file=str(folder / f"{name}.journal"),
        workers=1,
    )
    plan = StudyPlan(study_name=name, storage=storage, tune=params.tune, seed=params.seed)
    start = time.perf_counter()
    study = run_study(plan, functools.partial(objective, params, inputs))
    seconds = time.perf_counter() - start
    trials = finished_trials(study)
    return StudyOutcome(
        trials=len(trials),
        pruned=sum(trial.state == TrialState.PRUNED for trial in trials),
        epochs=sum(len(trial.intermediate_values) for trial in trials),
        seconds=seconds,
        best_val_acc=float(study.best_value),
    )


def quiet_training_logs() -> None:
    """Warnings only, from Lightning and Optuna too: the benchmark prints its own table."""
    logging.basicConfig(level=logging.WARNING)
    for chatty in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--n-trials", type=int, help="tune.n_trials (default: the params')")
    parser.add_argument("--max-epochs", type=int, help="tune.max_epochs (default: the params')")
    parser.add_argument("--pruner", default="median", help="the pruned side's tune.pruner")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the params' seed")
    args = parser.parse_args()
    quiet_training_logs()

    params = load_params(args.params)
    budget = {"tune.n_trials": args.n_trials, "tune.max_epochs": args.max_epochs}
    overrides = {key: value for key, value in budget.items() if value is not None}
    # One local worker and the bench's own storage, whatever the params say.
    params = with_overrides(params, overrides | {"tune.workers": 1, "tune.storage": None})
    seeds = args.seeds or [params.seed]
    sides = (args.pruner, "none")
    outcomes: dict[tuple[int, str], StudyOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as scratch:
        folder = Path(scratch)
        splits, store, classes = digits_splits(folder / "digits")
        for seed in seeds:
            seeded = with_overrides(params, {"seed": seed})
            augment = folder / f"augment-{seed}.json"
            save_augmentation(build_augmentation(seeded.augment.transforms, seed=seed), augment)
            inputs = TrialInputs(str(splits), str(store), str(classes), str(augment))
            for pruner in sides:
                pruned = with_overrides(seeded, {"tune.pruner": pruner})
                outcomes[seed, pruner] = run_pruned_study(pruned, inputs, folder / str(seed))

    tune = params.tune
    print(f"digits: {tune.n_trials} trials of {tune.max_epochs} epochs, sampler {tune.sampler}, "
          f"seed {', '.join(map(str, seeds))}, search space {', '.join(tune.space)}")  # fmt: skip
    print(f"{'seed':<6}{'pruner':<10}{'trials':>8}{'pruned':>8}{'epochs':>8}{'wall s':>9}"
          f"{'best val acc':>14}")  # fmt: skip
    for (seed, pruner), outcome in outcomes.items():
        print(f"{seed:<6}{pruner:<10}{outcome.trials:>8}{outcome.pruned:>8}{outcome.epochs:>8}"
              f"{outcome.seconds:>9.1f}{outcome.best_val_acc:>14.4f}")  # fmt: skip
    with_pruning = [outcomes[seed, args.pruner] for seed in seeds]
    without = [outcomes[seed, "none"] for seed in seeds]
    epochs = sum(o.epochs for o in with_pruning) / sum(o.epochs for o in without)
    seconds = sum(o.seconds for o in with_pruning) / sum(o.seconds for o in without)
    print(f"epochs with pruning / without: {epochs:.2f}x")
    print(f"wall time with pruning / without: {seconds:.2f}x")
    pairs = zip(with_pruning, without, strict=True)
    points = [100 * (pruned.best_val_acc - full.best_val_acc) for pruned, full in pairs]
    if len(seeds) == 1:
        print(f"best val acc with pruning - without: {points[0]:+.2f} points")
    else:
        print(f"best val acc with pruning - without: {sum(points) / len(points):+.2f} points "
              f"on average, worst {min(points):+.2f} (per seed: "
              f"{', '.join(f'{p:+.2f}' for p in points)})")  # fmt: skip


if __name__ == "__main__":
    main()
