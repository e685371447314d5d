"""A team study on PostgreSQL: independent worker processes join one study on a fresh
database, finish exactly N trials without repeating a grid point, and recover from a worker
killed mid-trial (its trial failed by the heartbeat check and retried at most once).

The workers are this file run as a script (``python -m tests.integration.test_team_study``),
each one a separate process with its own storage connection, as on separate machines.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from imgclf.config import SearchDimension, TuneConfig
from imgclf.tuning.storage import open_storage, resolve_storage
from imgclf.tuning.study import StudyPlan, finished_trials, open_study, run_worker

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
STUDY = "team"
GRACE_S = 3
SPACE = {
    "model.width": SearchDimension(type="categorical", choices=[8, 16, 32, 64]),
    "train.lr": SearchDimension(type="float", low=0.01, high=0.03, step=0.01),
}  # 12 grid points


def team_plan(url: str, n_trials: int) -> StudyPlan:
    cfg = TuneConfig(
        sampler="grid",
        space=SPACE,
        n_trials=n_trials,
        heartbeat_interval_s=1,
        grace_period_s=GRACE_S,
    )
    storage = resolve_storage(
        url, storage_file="unused.db", journal_file="unused.journal", workers=1
    )
    return StudyPlan(study_name=STUDY, storage=storage, tune=cfg, seed=0, poll_s=0.2)


def worker_main(argv: Sequence[str] | None = None) -> None:
    """One team member: ``--url URL --n-trials N --worker I --trial-seconds S``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--n-trials", type=int, required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--trial-seconds", type=float, required=True)
    args = parser.parse_args(argv)
    plan = team_plan(args.url, args.n_trials)

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_categorical("model.width", [8, 16, 32, 64])
        lr = trial.suggest_float("train.lr", 0.01, 0.03, step=0.01)
        print(f"RUNNING {trial.number}", flush=True)
        time.sleep(args.trial_seconds)
        return width * lr

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_worker(open_study(plan, worker=args.worker), objective, plan)


def start_worker(
    url: str, n_trials: int, worker: int, trial_seconds: float
) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "tests.integration.test_team_study", "--url", url,
        "--n-trials", str(n_trials), "--worker", str(worker), "--trial-seconds", str(trial_seconds),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def load(url: str) -> optuna.Study:
    storage = open_storage(
        resolve_storage(url, storage_file="-", journal_file="-", workers=1),
        heartbeat_interval_s=1,
        grace_period_s=GRACE_S,
    )
    return optuna.load_study(study_name=STUDY, storage=storage)


def wait_for_running_trial(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        if line.startswith("RUNNING"):
            return
    raise AssertionError(f"worker exited ({worker.wait()}) before starting a trial")


def finish(workers: list[subprocess.Popen[str]], timeout: float = 120) -> None:
    for worker in workers:
        output, _ = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, output[-3000:]


@pytest.fixture
def team_url(postgres_url: str) -> str:
    # trust authentication ignores the password; it is here to be masked in logs and tags
    return postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")


def test_four_workers_on_a_fresh_database_finish_exactly_n_trials_once_each(team_url: str) -> None:
    n_trials = 10
    workers = [start_worker(team_url, n_trials, index, trial_seconds=0.3) for index in range(4)]
    finish(workers)

    study = load(team_url)
    points = [(t.params["model.width"], t.params["train.lr"]) for t in finished_trials(study)]
    assert len(optuna.get_all_study_names(storage=study._storage)) == 1
    assert len(points) == n_trials
    assert len(set(points)) == n_trials, "a grid point ran twice"
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert len({t.system_attrs["grid_id"] for t in study.trials}) == len(study.trials)


def test_worker_killed_mid_trial_is_failed_and_retried_at_most_once(team_url: str) -> None:
    n_trials = 3
    first = start_worker(team_url, n_trials, 0, trial_seconds=600)
    wait_for_running_trial(first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(GRACE_S + 1)  # the next worker to start a trial finds trial 0 stale
    # The retry of the killed trial is killed too: it must not be retried a second time.
    second = start_worker(team_url, n_trials, 1, trial_seconds=600)
    wait_for_running_trial(second)
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    time.sleep(GRACE_S + 1)

    finish([start_worker(team_url, n_trials, 2, trial_seconds=0.2)])

    study = load(team_url)
    trials = study.trials
    assert [t.state for t in trials[:2]] == [TrialState.FAIL, TrialState.FAIL]
    assert trials[1].system_attrs["failed_trial"] == 0, "the killed trial was retried"
    assert trials[1].params == trials[0].params
    retries_of_first = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retries_of_first) == 1, "retried more than once"
    assert len(finished_trials(study)) == n_trials
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


if __name__ == "__main__":
    worker_main()
