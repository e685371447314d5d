"""Can the study prove its choice? Every trial's interval and paired test against the best,
recomputable from the predictions file, the verdict line, tune.select and the defaults."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from optuna.distributions import FloatDistribution
from scipy import stats

from imgclf.config import SearchDimension, TuneConfig, parse_params
from imgclf.evaluation.significance import compare_folds
from imgclf.tuning.evidence import study_evidence
from imgclf.tuning.liveness import worker_of
from imgclf.tuning.objective import (
    USER_ATTR_FLOPS,
    USER_ATTR_PARAMETERS,
    USER_ATTR_PREDICTIONS,
    USER_ATTR_VAL_LOSS,
)
from imgclf.tuning.report import choose, ranked_trials
from imgclf.tuning.space import default_point
from imgclf.tuning.storage import resolve_storage
from imgclf.tuning.study import DEFAULTS, StudyPlan, run_study
from pipelines.tune import main
from tests.unit.test_tuning_objective import tiny_inputs  # noqa: F401  (fixture)
from tests.unit.test_tuning_stage import local_stage_args

CLASSES = ["a", "b"]
LR = FloatDistribution(0.0001, 0.1, log=True)


def val_rows(n: int, folds: int = 0) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "path": [f"{CLASSES[i % 2]}/{i}" for i in range(n)],
            "label": [CLASSES[i % 2] for i in range(n)],
            "sha256": [f"{i:064x}" for i in range(n)],
        }
    )
    if folds:
        rows["fold"] = np.arange(n) * folds // n  # consecutive blocks
    return rows


def add_trial(
    study: optuna.Study, lr: float, wrong: int, n: int, flops: int = 1000, loss: float = 0.1
) -> None:
    """A complete trial that gets its first ``wrong`` of ``n`` validation images wrong."""
    truth = np.arange(n) % 2
    predicted = truth.copy()
    predicted[:wrong] = 1 - predicted[:wrong]
    study.add_trial(
        optuna.trial.create_trial(
            params={"train.lr": lr},
            distributions={"train.lr": LR},
            value=float(np.mean(predicted == truth)),
            user_attrs={
                USER_ATTR_PREDICTIONS: predicted.tolist(),
                USER_ATTR_VAL_LOSS: loss,
                USER_ATTR_FLOPS: flops,
                USER_ATTR_PARAMETERS: flops // 10,
            },
        )
    )


def evidence_of(study: optuna.Study, rows: pd.DataFrame, **options: object):
    settings = {"alpha": 0.05, "folds": False, "max_train_images": None, "defaults": None}
    return study_evidence(ranked_trials(study), rows, CLASSES, **(settings | options))


def test_two_images_of_180_do_not_prove_the_best_trial_better() -> None:
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0.001, wrong=2, n=180)
    add_trial(study, 0.003, wrong=0, n=180)
    add_trial(study, 0.03, wrong=40, n=180)

    evidence = evidence_of(study, val_rows(180), defaults={"train.lr": 0.001})

    assert [t.number for t in evidence.trials] == [1, 0, 2]
    runner_up = evidence.trials[1]
    assert runner_up.versus_best.delta == pytest.approx(-2 / 180)
    assert runner_up.versus_best.p_value == pytest.approx(stats.binomtest(0, 2).pvalue)
    assert evidence.verdict().startswith(
        "best trial 1 (val_acc 1.000 on 180 images) is not proven better than the runner-up, "
        "trial 0 (0.989): McNemar's exact test p = 0.5 >= tune.alpha 0.05; "
        "2 of 3 complete trials are tied with it"
    )
    assert [t.number for t in evidence.tied] == [1, 0]
    assert evidence.trials[2].versus_best.p_value < 1e-9
    assert "(trial 0, val_acc 0.989)" in evidence.defaults_line()
    assert "tuning is not proven to pay" in evidence.defaults_line()


def test_a_clear_winner_is_proven_better_than_the_runner_up() -> None:
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0.001, wrong=0, n=180)
    add_trial(study, 0.003, wrong=30, n=180)

    verdict = evidence_of(study, val_rows(180)).verdict()

    assert " is proven better than the runner-up, trial 1 (0.833)" in verdict
    assert "1 of 2 complete trials are tied with it" in verdict


def test_simplest_tied_keeps_the_cheapest_trial_the_test_cannot_tell_from_the_best() -> None:
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0.001, wrong=0, n=180, flops=9000)  # best, expensive
    add_trial(study, 0.002, wrong=1, n=180, flops=2000)  # tied, cheap
    add_trial(study, 0.003, wrong=3, n=180, flops=2000, loss=0.5)  # tied, as cheap, ranked lower
    add_trial(study, 0.004, wrong=60, n=180, flops=100)  # cheapest, clearly worse
    evidence = evidence_of(study, val_rows(180))

    best, _ = evidence.select("best")
    chosen, reason = evidence.select("simplest_tied")

    assert best.number == 0
    assert chosen.number == 1
    assert reason.startswith("tune.select simplest_tied: trial 1, the cheapest of the 3 trial(s)")
    assert "2k FLOPs" in reason


def test_folds_are_compared_with_the_corrected_resampled_t_test() -> None:
    study = optuna.create_study(direction="maximize")
    add_trial(study, 0.001, wrong=0, n=100)
    add_trial(study, 0.003, wrong=10, n=100)  # all ten errors in fold 0
    rows = val_rows(100, folds=5)

    evidence = evidence_of(study, rows, folds=True, max_train_images=None)

    versus = evidence.trials[1].versus_best
    # By hand: per-fold differences, variance inflated by n_val / n_train = 20 / 80.
    differences = np.array([-0.5, 0.0, 0.0, 0.0, 0.0])
    error = np.sqrt((1 / 5 + 20 / 80) * differences.var(ddof=1))
    expected = 2 * stats.t.sf(abs(differences.mean()) / error, 4)
    assert versus.test == "corrected_resampled_t"
    assert versus.p_value == pytest.approx(expected)
    assert versus.n == 5
    assert "the corrected resampled t-test over folds" in evidence.verdict()


def test_identical_folds_are_a_tie_not_an_error() -> None:
    same = compare_folds(np.ones(5), np.ones(5), train_images=80, val_images=20)

    assert (same.delta, same.p_value) == (0.0, 1.0)


def test_defaults_outside_the_space_are_no_contestant() -> None:
    params = parse_params({"train": {"lr": 0.5}})
    space = {"train.lr": SearchDimension(type="float", low=0.001, high=0.01, log=True)}

    point, why = default_point(space, params)

    assert point is None
    assert why == "params.yaml's train.lr = 0.5 lies outside tune.space.train.lr"
    assert default_point(space, parse_params({}))[0] == {"train.lr": 0.003}


def score(trial: optuna.Trial) -> float:
    return -abs(trial.suggest_float("train.lr", 0.001, 0.01, log=True) - 0.005)


def make_score(_worker: int):
    return score


def defaults_plan(tmp_path: Path, sampler: str = "random", n_trials: int = 3) -> StudyPlan:
    space = {"train.lr": SearchDimension(type="float", low=0.001, high=0.01, log=True)}
    storage = resolve_storage(
        None, storage_file=str(tmp_path / "optuna.db"), journal_file="-", workers=1
    )
    return StudyPlan(
        study_name="defaults",
        storage=storage,
        tune=TuneConfig(sampler=sampler, n_trials=n_trials, space=space),
        seed=0,
        defaults={"train.lr": 0.003},
        poll_s=0.05,
    )


def test_the_defaults_run_once_as_one_of_n_trials_and_not_again_on_a_rerun(
    tmp_path: Path,
) -> None:
    first_run = run_study(defaults_plan(tmp_path), make_score).trials
    resumed = run_study(defaults_plan(tmp_path, n_trials=4), make_score)

    first = first_run[0]
    assert (first.params, first.user_attrs[DEFAULTS]) == ({"train.lr": 0.003}, True)
    assert len(first_run) == 3
    assert len(resumed.trials) == 4, "a resumed study runs only the missing trial"
    assert sum(bool(t.user_attrs.get(DEFAULTS)) for t in resumed.trials) == 1


@pytest.mark.parametrize("option", ["grid", "full"])
def test_no_defaults_trial_where_it_would_take_a_grid_point_or_exceed_n_trials(
    tmp_path: Path, option: str
) -> None:
    if option == "grid":
        plan = defaults_plan(tmp_path, sampler="grid")
        grid = {"train.lr": SearchDimension(type="categorical", choices=[0.001, 0.01])}
        plan = dataclasses.replace(plan, tune=plan.tune.model_copy(update={"space": grid}))
    else:
        run_study(defaults_plan(tmp_path, n_trials=1), make_score)  # the defaults' one trial
        plan = defaults_plan(tmp_path, n_trials=1)

    study = run_study(plan, make_score)

    assert sum(bool(t.user_attrs.get(DEFAULTS)) for t in study.trials) == (option == "full")
    assert len(study.trials) == (2 if option == "grid" else 1)


def test_tune_json_p_values_recompute_from_the_predictions_file_with_scipy(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    args = local_stage_args(tmp_path, tiny_inputs, monkeypatch)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["model"]["width"] = "auto"  # 32 at 8 px: the defaults' width is a choice
    params["tune"].update(n_trials=3, select="simplest_tied", pruner="none")
    params["tune"]["space"]["model.width"] = {"type": "categorical", "choices": [8, 32]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    with caplog.at_level(logging.INFO, logger="imgclf.tune"):
        assert main(args) == 0

    report = json.loads((tmp_path / "tune.json").read_text())
    table = pd.read_csv(tmp_path / "tune_predictions.csv", dtype=str)
    complete = [t for t in report["trials"] if t["state"] == "complete"]
    assert list(table.columns) == ["path", "sha256", "label"] + [
        f"trial_{t['number']}" for t in complete
    ]
    assert list(table["path"]) == list(
        pd.read_csv(Path(tiny_inputs.splits_dir) / "val.csv")["path"]
    )
    best = table[f"trial_{report['best']['number']}"] == table["label"]
    for trial in complete:
        right = table[f"trial_{trial['number']}"] == table["label"]
        evidence = trial["evidence"]
        assert evidence["val_acc"] == pytest.approx(right.mean())
        assert evidence["val_acc"] == pytest.approx(trial["value"])
        assert evidence["val_acc_ci95_low"] <= evidence["val_acc"] <= evidence["val_acc_ci95_high"]
        if trial["number"] != report["best"]["number"]:
            only_trial, only_best = int((right & ~best).sum()), int((~right & best).sum())
            recomputed = (
                stats.binomtest(only_trial, only_trial + only_best).pvalue
                if (only_trial + only_best)
                else 1.0
            )
            assert evidence["versus_best"]["p_value"] == pytest.approx(recomputed)
            assert evidence["versus_best"]["test"] == "mcnemar_exact"
    defaults = [t for t in report["trials"] if t.get(DEFAULTS)]
    assert [t["params"] for t in defaults] == [{"train.lr": 0.003, "model.width": 32}]
    assert report["verdict"] in caplog.text and report["verdict"].startswith("best trial ")
    (parent,) = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`imgclf.tune_verdict` != ''",
        output_format="list",
    )  # fmt: skip
    assert parent.data.tags["imgclf.tune_verdict"] == report["verdict"]
    assert parent.data.metrics["trials_tied_with_best"] == len(report["tied_with_best"])
    assert report["defaults"].startswith("params.yaml's own values")
    selected = report["selected"]
    assert selected["reason"].startswith("tune.select simplest_tied: trial ")
    best_params = (tmp_path / "best.yaml").read_text()
    assert best_params.startswith(f"# {selected['reason']}\n")
    assert yaml.safe_load(best_params) == selected["params"]


def predicting(trial: optuna.Trial) -> float:
    """A trial that records predictions on 40 images like the stage's objective, slowly
    enough that a second worker process (about 5 s to start) gets some of the trials."""
    lr = trial.suggest_float("train.lr", 0.001, 0.01, log=True)
    time.sleep(1.5)
    predicted = (np.arange(40) % 2).tolist()
    predicted[: int(lr * 1000)] = [1 - p for p in predicted[: int(lr * 1000)]]
    trial.set_user_attr(USER_ATTR_PREDICTIONS, predicted)
    trial.set_user_attr(USER_ATTR_FLOPS, 1000)
    return float(np.mean(np.array(predicted) == np.arange(40) % 2))


def make_predicting(_worker: int):
    return predicting


def test_every_workers_predictions_reach_the_evidence(tmp_path: Path) -> None:
    plan = defaults_plan(tmp_path, n_trials=6)
    storage = resolve_storage(
        None, storage_file="-", journal_file=str(tmp_path / "optuna.journal"), workers=2
    )
    plan = dataclasses.replace(plan, storage=storage, workers=2)

    study = run_study(plan, make_predicting)

    choice = choose(study, val_rows(40), CLASSES, plan.tune, plan.defaults)
    pids = {worker_of(trial).pid for trial in study.trials}
    assert len(pids) == 2, "both worker processes ran trials"
    assert sorted(t.number for t in choice.evidence.trials) == list(range(6))
    assert choice.evidence.defaults == 0
