"""``tune.select: best`` against ``simplest_tied``: the same study, both choices trained in
full and scored on the test split, over several seeds.

For each seed, one study of the tune stage's own machinery (``run_study`` with the stage's
objective, MLflow off, params.yaml's own values queued as the first trial) searches the
learning rate and the width (``model.width`` 8, 16 or 32), so that tied trials can differ in
cost. Both rules then pick from the same trials (:func:`imgclf.tuning.report.choose`); each
distinct pick is trained like the train stage (``train.max_epochs`` on the whole train split)
and scored on the test split. Prints per seed and rule the trial picked, its width, forward
FLOPs per image, the final fit's wall seconds and the test accuracy; then, over the seeds,
the mean test accuracy of each rule, the paired difference per seed, and the cost ratios.

    .venv/bin/python bench/bench_select.py                                   # the digits
    .venv/bin/python bench/bench_select.py --data fashion-mnist --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bench_data import digits_splits, fashion_mnist_subset_splits
from bench_pruning import quiet_training_logs

from imgclf.augment import build_augmentation, load_augmentation, save_augmentation
from imgclf.config import Params, load_params, with_overrides
from imgclf.data.datamodule import ImageDataModule
from imgclf.data.schema import read_classes, read_split
from imgclf.data.split_reader import load_split_images, split_image_size
from imgclf.models.inference import torch_probabilities
from imgclf.tracking import cpu_description
from imgclf.training.fit import fit, resolved_auto
from imgclf.tuning.objective import TrialInputs, build_objective, validation_rows
from imgclf.tuning.report import choose
from imgclf.tuning.space import check_space, default_point
from imgclf.tuning.storage import resolve_storage
from imgclf.tuning.study import Objective, StudyPlan, run_study

RULES = ("best", "simplest_tied")
SPACE = {
    "train.lr": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
    "model.width": {"type": "categorical", "choices": [8, 16, 32]},
}


@dataclass(frozen=True)
class Pick:
    trial: int
    width: int
    tied: int
    forward_flops: int
    fit_s: float
    test_acc: float


def objective(params: Params, inputs: TrialInputs, worker: int) -> Objective:
    return build_objective(params, inputs, worker, track=False)


def final_fit(params: Params, inputs: TrialInputs, chosen: dict[str, Any]) -> tuple[float, float]:
    """Train ``chosen`` on the whole train split like the train stage; (wall s, test acc)."""
    tuned = with_overrides(params, chosen)
    classes = read_classes(inputs.classes_path)
    splits = Path(inputs.splits_dir)
    train, val, test = (
        load_split_images(read_split(splits / f"{name}.csv"), classes, name, inputs.store_dir)
        for name in ("train", "val", "test")
    )
    data = ImageDataModule(
        train, val, classes,
        augment=load_augmentation(str(inputs.augment_path), params.seed),
        batch_size=tuned.train.batch_size, num_workers=0, seed=params.seed,
    )  # fmt: skip
    start = time.perf_counter()
    result = fit(tuned.model, tuned.train, data, seed=params.seed, enable_progress_bar=False)
    seconds = time.perf_counter() - start
    predicted = torch_probabilities(result.module.net, result.module.spec, test.images).argmax(1)
    return seconds, float(np.mean(predicted == test.labels))


def run_seed(params: Params, inputs: TrialInputs, folder: Path) -> dict[str, Pick]:
    """One study, both rules' picks trained in full."""
    check_space(params.tune.space, params)
    storage = resolve_storage(
        None, storage_file=str(folder / "study.db"), journal_file="-", workers=1
    )
    image_size = split_image_size(Path(inputs.splits_dir) / "train.csv", inputs.store_dir)
    resolved = with_overrides(params, resolved_auto(params, image_size))
    defaults, _ = default_point(params.tune.space, resolved)
    plan = StudyPlan(
        study_name="bench-select", storage=storage, tune=params.tune, seed=params.seed,
        defaults=defaults,
    )  # fmt: skip
    study = run_study(plan, functools.partial(objective, params, inputs))
    rows = validation_rows(inputs.splits_dir, folds=False)
    classes = read_classes(inputs.classes_path)
    picks: dict[str, Pick] = {}
    fitted: dict[int, tuple[float, float]] = {}
    for rule in RULES:
        tune = params.tune.model_copy(update={"select": rule})
        choice = choose(study, rows, classes, tune, defaults)
        assert choice.evidence is not None
        trial = study.trials[choice.number]
        if choice.number not in fitted:
            fitted[choice.number] = final_fit(params, inputs, trial.params)
        seconds, test_acc = fitted[choice.number]
        picks[rule] = Pick(
            trial=choice.number,
            width=int(trial.params["model.width"]),
            tied=len(choice.evidence.tied),
            forward_flops=int(trial.user_attrs["forward_flops"]),
            fit_s=seconds,
            test_acc=test_acc,
        )
    return picks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", choices=["digits", "fashion-mnist"], default="digits")
    parser.add_argument("--idx-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument(
        "--subset", type=int, nargs=3, default=[4000, 1000, 2000],
        metavar=("TRAIN", "VAL", "TEST"), help="Fashion-MNIST images per split",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-trials", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, help="tune.max_epochs (default: the params')")
    args = parser.parse_args()
    quiet_training_logs()

    params = load_params(args.params)
    overrides: dict[str, Any] = {
        "tune.space": SPACE, "tune.n_trials": args.n_trials, "tune.budget": None,
        "tune.workers": 1, "tune.storage": None, "train.num_workers": 0,
    }  # fmt: skip
    if args.max_epochs:
        overrides["tune.max_epochs"] = args.max_epochs
    params = with_overrides(params, overrides)
    results: dict[int, dict[str, Pick]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-select-") as scratch:
        folder = Path(scratch)
        if args.data == "digits":
            splits, store, classes = digits_splits(folder / "data")
        else:
            splits, store, classes = fashion_mnist_subset_splits(
                folder / "data", Path(args.idx_dir), *args.subset, seed=0
            )
        for seed in args.seeds:
            seeded = with_overrides(params, {"seed": seed})
            augment = folder / f"augment-{seed}.json"
            save_augmentation(build_augmentation(seeded.augment.transforms, seed=seed), augment)
            inputs = TrialInputs(str(splits), str(store), str(classes), str(augment))
            (folder / str(seed)).mkdir()
            results[seed] = run_seed(seeded, inputs, folder / str(seed))
            for rule, pick in results[seed].items():
                print(f"seed {seed} {rule}: {pick}", flush=True)
        val_images = len(read_split(splits / "val.csv"))

    tune, train = params.tune, params.train
    print(f"\n{args.data}: {tune.n_trials} trials of {tune.max_epochs} epochs ({tune.sampler}, "
          f"pruner {tune.pruner}) over train.lr and model.width 8/16/32, {val_images} val "
          f"images, alpha {tune.alpha}; final fits of {train.max_epochs} epochs; "
          f"{cpu_description()}")  # fmt: skip
    print(f"{'seed':<6}{'rule':<15}{'trial':>6}{'tied':>6}{'width':>7}{'MFLOPs':>9}"
          f"{'fit s':>8}{'test acc':>10}")  # fmt: skip
    for seed, by_rule in results.items():
        for rule, pick in by_rule.items():
            print(f"{seed:<6}{rule:<15}{pick.trial:>6}{pick.tied:>6}{pick.width:>7}"
                  f"{pick.forward_flops / 1e6:>9.3f}{pick.fit_s:>8.1f}"
                  f"{pick.test_acc:>10.4f}")  # fmt: skip
    for rule in RULES:
        picks = [results[seed][rule] for seed in results]
        print(f"{rule}: mean test acc {np.mean([p.test_acc for p in picks]):.4f}, "
              f"mean forward MFLOPs {np.mean([p.forward_flops for p in picks]) / 1e6:.3f}, "
              f"final fits {sum(p.fit_s for p in picks):.1f} s in all")  # fmt: skip
    best = [results[seed]["best"] for seed in results]
    simple = [results[seed]["simplest_tied"] for seed in results]
    points = [100 * (s.test_acc - b.test_acc) for s, b in zip(simple, best, strict=True)]
    flops = sum(s.forward_flops for s in simple) / sum(b.forward_flops for b in best)
    seconds = sum(s.fit_s for s in simple) / sum(b.fit_s for b in best)
    print(f"simplest_tied - best: {np.mean(points):+.2f} test points on average (per seed: "
          f"{', '.join(f'{p:+.2f}' for p in points)}); forward FLOPs {flops:.2f}x, "
          f"final fit time {seconds:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
