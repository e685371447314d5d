"""The study loop: exact trial budgets, race-free grids across processes, resumable studies."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from imgclf.config import SearchDimension, TuneConfig
from imgclf.errors import UserError
from imgclf.tuning.storage import StorageSpec, resolve_storage
from imgclf.tuning.study import OVER_BUDGET, StudyPlan, finished_trials, open_study, run_study

GRID_SPACE = {
    "model.width": SearchDimension(type="categorical", choices=[8, 16, 32]),
    "train.lr": SearchDimension(type="float", low=0.01, high=0.02, step=0.01),
}


def score_params(trial: optuna.Trial) -> float:
    """A cheap objective: suggests the grid's keys, sleeps a little so workers overlap."""
    width = trial.suggest_categorical("model.width", [8, 16, 32])
    lr = trial.suggest_float("train.lr", 0.01, 0.02, step=0.01)
    time.sleep(0.05)
    return width * lr


def make_score_params(_worker: int):
    return score_params


def plan_for(tmp_path: Path, *, workers: int = 1, **tune: object) -> StudyPlan:
    cfg = TuneConfig(space=GRID_SPACE, **tune)
    storage = resolve_storage(
        None,
        storage_file=str(tmp_path / "optuna.db"),
        journal_file=str(tmp_path / "optuna.journal"),
        workers=workers,
    )
    return StudyPlan(
        study_name="test", storage=storage, tune=cfg, seed=0, workers=workers, poll_s=0.05
    )


def grid_points(study: optuna.Study) -> list[tuple[object, ...]]:
    return [(t.params["model.width"], t.params["train.lr"]) for t in finished_trials(study)]


def test_grid_sampler_enumerates_exactly_the_grid(tmp_path: Path) -> None:
    study = run_study(plan_for(tmp_path, sampler="grid", n_trials=100), make_score_params)

    points = grid_points(study)
    assert sorted(points) == sorted((w, lr) for w in (8, 16, 32) for lr in (0.01, 0.02))


def test_two_worker_processes_on_a_journal_never_run_a_grid_point_twice(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, workers=2, sampler="grid", n_trials=6)
    assert plan.storage.kind == "journal"

    study = run_study(plan, make_score_params)

    points = grid_points(study)
    assert len(points) == 6
    assert len(set(points)) == 6
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_grid_resumed_in_a_second_run_still_visits_each_point_once(tmp_path: Path) -> None:
    run_study(plan_for(tmp_path, sampler="grid", n_trials=3), make_score_params)

    study = run_study(plan_for(tmp_path, sampler="grid", n_trials=6), make_score_params)

    assert len(set(grid_points(study))) == len(grid_points(study)) == 6


def test_parallel_workers_finish_exactly_n_trials(tmp_path: Path) -> None:
    study = run_study(
        plan_for(tmp_path, workers=2, sampler="random", n_trials=5), make_score_params
    )

    assert len(finished_trials(study)) == 5
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_rerun_after_partial_study_runs_only_the_missing_trials(tmp_path: Path) -> None:
    run_study(plan_for(tmp_path, sampler="tpe", n_trials=3), make_score_params)

    study = run_study(plan_for(tmp_path, sampler="tpe", n_trials=5), make_score_params)

    numbers = [t.number for t in finished_trials(study)]
    assert numbers == [0, 1, 2, 3, 4]


def test_trial_interrupted_by_a_crash_is_failed_and_retried_once_on_rerun(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, sampler="random", n_trials=2)
    crashed = open_study(plan).ask()
    score_params(crashed)  # params drawn, then the process "dies" with the trial RUNNING

    study = run_study(plan, make_score_params)

    states = [t.state for t in study.trials]
    assert states[0] == TrialState.FAIL
    retry = study.trials[1]
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == 0
    assert retry.params == study.trials[0].params
    assert len(finished_trials(study)) == 2


def test_study_that_is_already_complete_runs_nothing(tmp_path: Path) -> None:
    run_study(plan_for(tmp_path, sampler="random", n_trials=2), make_score_params)

    study = run_study(plan_for(tmp_path, sampler="random", n_trials=2), make_score_params)

    assert len(study.trials) == 2
    assert not any(OVER_BUDGET in t.user_attrs for t in study.trials)


def test_sqlite_url_with_several_workers_is_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="SQLite locks the whole file") as error:
        resolve_storage(f"sqlite:///{tmp_path}/x.db", storage_file="a", journal_file="b", workers=4)
    assert "\n" not in str(error.value)
    assert "--workers 4" in str(error.value)


def test_default_storage_is_sqlite_for_one_worker_and_journal_for_several() -> None:
    one = resolve_storage(
        None, storage_file="models/optuna.db", journal_file="models/o.journal", workers=1
    )
    many = resolve_storage(
        None, storage_file="models/optuna.db", journal_file="models/o.journal", workers=3
    )

    assert one == StorageSpec("rdb", "sqlite:///models/optuna.db", owned=True)
    assert many == StorageSpec("journal", "models/o.journal", owned=True)


def test_team_storage_url_is_shown_with_its_password_masked() -> None:
    spec = resolve_storage(
        "postgresql://ann:s3cret@db/optuna", storage_file="a", journal_file="b", workers=4
    )

    assert spec.display == "postgresql://ann:***@db/optuna"
    assert not spec.owned


def test_shared_study_refuses_to_mix_trials_of_other_params(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    shared = resolve_storage(url, storage_file="-", journal_file="-", workers=1)
    plan = StudyPlan(
        study_name="team", storage=shared, tune=TuneConfig(), seed=0, fingerprint="aaa"
    )
    open_study(plan)

    with pytest.raises(UserError, match="holds trials of other params or data"):
        open_study(
            StudyPlan(
                study_name="team", storage=shared, tune=TuneConfig(), seed=0, fingerprint="bbb"
            )
        )
