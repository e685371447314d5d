"""A trial is a short Lightning training: pruned through optuna-integration's callback,
scored on validation accuracy, and written out as best params, report and plots."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution

from imgclf.config import parse_params
from imgclf.errors import UserError
from imgclf.tuning.objective import TrialInputs, build_objective
from imgclf.tuning.plots import PLOTS, save_plots
from imgclf.tuning.pruners import build_pruner, warmup_epochs
from imgclf.tuning.report import best_params, write_study_outputs
from tests.support.image_store import write_store

CLASSES = ["dark", "mid", "bright"]


@pytest.fixture
def tiny_inputs(tmp_path: Path) -> TrialInputs:
    """3 classes of 8x8 grayscale images whose brightness says the class, in a store;
    train/val CSVs."""
    rng = np.random.default_rng(0)
    images, labels, splits = [], [], []
    for label, name in enumerate(CLASSES):
        for index in range(8):
            pixels = np.clip(40 + 90 * label + rng.integers(-20, 21, (8, 8)), 0, 255)
            images.append(pixels.astype(np.uint8))
            labels.append(name)
            splits.append("val" if index % 4 == 0 else "train")
    rows = write_store(tmp_path / "images", images, labels)
    for split in ("train", "val"):
        rows[np.array(splits) == split].to_csv(tmp_path / f"{split}.csv", index=False)
    (tmp_path / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    return TrialInputs(
        str(tmp_path), str(tmp_path / "images"), str(tmp_path / "classes.json"), augment_path=None
    )


def tiny_params(pruner: str = "median") -> object:
    return parse_params(
        {
            "model": {"name": "mlp", "width": 8, "depth": 1, "dropout": 0.0},
            "train": {"batch_size": 8, "scheduler": "none", "patience": 5},
            "tune": {
                "pruner": pruner,
                "max_epochs": 3,
                "space": {"train.lr": {"type": "float", "low": 1e-7, "high": 0.1, "log": True}},
            },
        }
    )


def good_trial(number: int) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params={"train.lr": 0.05},
        distributions={"train.lr": FloatDistribution(1e-7, 0.1, log=True)},
        value=1.0,
        intermediate_values={0: 1.0, 1: 1.0, 2: 1.0},
    )


def test_hopeless_trial_is_pruned_by_the_median_pruner_through_the_lightning_callback(
    tiny_inputs: TrialInputs,
) -> None:
    params = tiny_params()
    study = optuna.create_study(direction="maximize", pruner=build_pruner("median", 3))
    study.add_trial(good_trial(0))
    study.add_trial(good_trial(1))
    study.enqueue_trial({"train.lr": 1e-7})  # learns nothing: stays far below the median

    study.optimize(build_objective(params, tiny_inputs, worker=0, track=False), n_trials=1)

    hopeless = study.trials[-1]
    assert hopeless.state == optuna.trial.TrialState.PRUNED
    assert max(hopeless.intermediate_values) < 2, "pruned before its last epoch"


def test_no_trial_is_pruned_before_the_first_half_of_its_epochs(
    tiny_inputs: TrialInputs,
) -> None:
    # Photos leave chance only some epochs in: judged at its first epoch, a trial that would
    # have won looks like one that never learns.
    params = tiny_params()
    study = optuna.create_study(direction="maximize", pruner=build_pruner("median", 4))
    for number in range(2):
        study.add_trial(good_trial(number))
    study.enqueue_trial({"train.lr": 1e-7})

    study.optimize(build_objective(params, tiny_inputs, worker=0, track=False), n_trials=1)

    hopeless = study.trials[-1]
    assert hopeless.state == optuna.trial.TrialState.PRUNED
    assert max(hopeless.intermediate_values) == warmup_epochs(4) == 2


def test_trial_is_scored_on_validation_accuracy_and_best_params_are_dotted_keys(
    tiny_inputs: TrialInputs, tmp_path: Path
) -> None:
    study = optuna.create_study(direction="maximize", study_name="tiny")
    study.enqueue_trial({"train.lr": 0.05})
    objective = build_objective(tiny_params(pruner="none"), tiny_inputs, worker=0, track=False)

    study.optimize(objective, n_trials=1)
    report = write_study_outputs(
        study,
        n_trials=1,
        storage="memory",
        report=tmp_path / "tune.json",
        best=tmp_path / "best.yaml",
    )

    assert 0.0 <= study.best_value <= 1.0
    assert yaml.safe_load((tmp_path / "best.yaml").read_text()) == {"train.lr": 0.05}
    assert report["trials"][0]["state"] == "complete"
    assert sorted(report["trials"][0]["val_acc_by_epoch"]) == [1, 2, 3]
    assert json.loads((tmp_path / "tune.json").read_text())["best"]["number"] == 0


def test_study_without_a_complete_trial_has_no_best_params() -> None:
    study = optuna.create_study(direction="maximize", study_name="all-pruned")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))

    with pytest.raises(UserError, match="no complete trial"):
        best_params(study)


def test_plots_folder_always_holds_every_plot_even_for_a_one_trial_study(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(good_trial(0))

    paths = save_plots(study, tmp_path / "plots")

    assert sorted(p.name for p in paths) == sorted(PLOTS)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_report_and_plots_are_the_same_bytes_however_long_the_trials_took(
    tmp_path: Path,
) -> None:
    outputs = []
    for run, pause in enumerate((0.0, 0.02)):
        study = optuna.create_study(
            direction="maximize", study_name="timed", sampler=optuna.samplers.RandomSampler(seed=3)
        )

        def objective(trial: optuna.Trial, pause: float = pause) -> float:
            time.sleep(pause)
            return -((trial.suggest_float("train.lr", 0.0, 1.0) - 0.3) ** 2) - trial.suggest_int(
                "model.width", 1, 4
            )

        study.optimize(objective, n_trials=4)
        folder = tmp_path / str(run)
        write_study_outputs(
            study, n_trials=4, storage="sqlite:///models/optuna.db",
            report=folder / "tune.json", best=folder / "best.yaml",
        )  # fmt: skip
        save_plots(study, folder / "plots")
        outputs.append(folder)

    first, second = outputs
    report = (first / "tune.json").read_text()
    assert "duration" not in report and "datetime" not in report
    assert report == (second / "tune.json").read_text()
    for name in PLOTS:
        assert (first / "plots" / name).read_bytes() == (second / "plots" / name).read_bytes()


def test_fingerprint_changes_with_what_a_trial_computes_not_with_where_it_runs(
    tiny_inputs: TrialInputs,
) -> None:
    from imgclf.config import with_overrides
    from imgclf.tuning.objective import objective_fingerprint

    params = tiny_params()
    same = objective_fingerprint(params, tiny_inputs)

    assert objective_fingerprint(params, tiny_inputs) == same
    assert (
        objective_fingerprint(with_overrides(params, {"train.num_workers": 4}), tiny_inputs) == same
    )
    assert (
        objective_fingerprint(with_overrides(params, {"train.optimizer": "sgd"}), tiny_inputs)
        != same
    )
    Path(tiny_inputs.splits_dir, "train.csv").write_text("path,label,sha256\n")
    assert objective_fingerprint(params, tiny_inputs) != same


def test_trials_tied_on_accuracy_are_ranked_by_val_loss() -> None:
    import optuna

    from imgclf.tuning.objective import USER_ATTR_VAL_LOSS
    from imgclf.tuning.report import best_params

    study = optuna.create_study(direction="maximize")
    for lr, accuracy, loss in [(0.001, 1.0, 0.30), (0.004, 1.0, 0.05), (0.01, 0.9, 0.01)]:
        trial = optuna.trial.create_trial(
            params={"train.lr": lr},
            distributions={"train.lr": optuna.distributions.FloatDistribution(0.0001, 0.1)},
            value=accuracy,
            user_attrs={USER_ATTR_VAL_LOSS: loss},
        )
        study.add_trial(trial)
    assert best_params(study) == {"train.lr": 0.004}


def test_a_trial_trains_with_its_own_transform_arguments(
    tiny_inputs: TrialInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imgclf.tuning.objective as objective_module

    key = "augment.transforms.HorizontalFlip.args.p"
    params = parse_params(
        {
            "model": {"name": "mlp", "width": 8, "depth": 1},
            "augment": {"transforms": [{"name": "HorizontalFlip", "args": {"p": 0.5}}]},
            "tune": {
                "max_epochs": 1,
                "space": {key: {"type": "categorical", "choices": [0.0, 1.0]}},
            },
        }
    )
    flip_p_seen: list[float] = []
    real_fit = objective_module.fit

    def fit_and_record(*args: object, **kwargs: object) -> object:
        data = args[2]
        flip_p_seen.append(data.augment.transforms[0].p)  # type: ignore[attr-defined]
        return real_fit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(objective_module, "fit", fit_and_record)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({key: 1.0})
    study.enqueue_trial({key: 0.0})

    study.optimize(build_objective(params, tiny_inputs, worker=0, track=False), n_trials=2)

    assert flip_p_seen == [1.0, 0.0]
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)


def test_every_fit_gets_its_own_data_module_with_its_own_batch_size(
    tiny_inputs: TrialInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imgclf.tuning.objective as objective_module

    params = parse_params(
        {
            "model": {"name": "mlp", "width": 8, "depth": 1},
            "tune": {
                "max_epochs": 1,
                "space": {"train.batch_size": {"type": "categorical", "choices": [4, 8]}},
            },
        }
    )
    modules: list[object] = []
    real_fit = objective_module.fit

    def fit_and_record(*args: object, **kwargs: object) -> object:
        modules.append(args[2])
        return real_fit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(objective_module, "fit", fit_and_record)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"train.batch_size": 4})
    study.enqueue_trial({"train.batch_size": 8})

    study.optimize(build_objective(params, tiny_inputs, worker=0, track=False), n_trials=2)

    assert [module.batch_size for module in modules] == [4, 8]  # type: ignore[attr-defined]
    assert modules[0] is not modules[1]
    assert modules[0].train_images is modules[1].train_images, "decoded once"  # type: ignore[attr-defined]
