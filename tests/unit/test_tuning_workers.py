"""Dead workers never hang a study: a worker killed mid-trial costs one retry, an orphaned
worker exits with its parent, and a worker whose trial was failed under it goes on.

A parent run for the kill tests is this file run as a script
(``python -m tests.unit.test_tuning_workers DIR``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from imgclf.tuning.liveness import WORKER_ATTR
from imgclf.tuning.study import finished_trials, open_study, run_study
from tests.unit.test_tuning_objective import tiny_inputs  # noqa: F401  (fixture)
from tests.unit.test_tuning_stage import _write_augment, stage_args
from tests.unit.test_tuning_study import grid_points, make_score_params, plan_for, score_params

ROOT = Path(__file__).resolve().parents[2]


def wait_for(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def killed_mid_trial(marker: Path, worker: int):
    """Worker 1 kills itself (SIGKILL) inside its first trial; worker 0 holds its first trial
    until then, so that worker 1 surely gets one."""

    def objective(trial: optuna.Trial) -> float:
        if worker == 1:
            score_params(trial)
            marker.write_text(str(time.time()))
            os.kill(os.getpid(), signal.SIGKILL)
        if trial.number == 0:
            wait_for(marker)
        return score_params(trial)

    return objective


def killed_before_any_trial(worker: int):
    if worker == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return score_params


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_worker_killed_mid_trial_is_failed_retried_and_the_study_completes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # timeout_s: without the dead-worker check the study would wait forever, not fail.
    plan = plan_for(tmp_path, workers=2, sampler="random", n_trials=4, timeout_s=30)
    marker = tmp_path / "killed-at"

    with caplog.at_level(logging.WARNING):
        study = run_study(plan, functools.partial(killed_mid_trial, marker))
    kill_to_complete_s = time.time() - float(marker.read_text())

    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retry.state == TrialState.COMPLETE
    assert retry.params == failed[0].params
    assert len(finished_trials(study)) == 4
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    (warning,) = warnings_of(caplog)
    dead_pid = failed[0].system_attrs[WORKER_ATTR]["pid"]
    assert f"tune-worker-1 (pid {dead_pid}) was killed by SIGKILL" in warning
    assert f"its trial(s) [{failed[0].number}] failed and ran again" in warning
    print(f"kill -> study complete: {kill_to_complete_s:.2f} s")
    assert kill_to_complete_s < 10


def test_worker_dying_before_its_first_trial_is_one_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan = plan_for(tmp_path, workers=2, sampler="random", n_trials=3)

    with caplog.at_level(logging.WARNING):
        study = run_study(plan, killed_before_any_trial)

    assert len(finished_trials(study)) == 3
    (warning,) = warnings_of(caplog)
    assert "tune-worker-1" in warning and "killed by SIGKILL" in warning
    assert "no trial lost" in warning


def failed_under_its_worker(then: str, _worker: int):
    """Trial 0 is failed by 'another worker' (as after a stale heartbeat) while it runs."""

    def objective(trial: optuna.Trial) -> float:
        value = score_params(trial)
        if trial.number == 0:
            trial.study.tell(trial.number, state=TrialState.FAIL)
            if then == "reports":
                trial.report(value, step=0)  # Optuna raises: the trial is finished
        return value

    return objective


@pytest.mark.parametrize("then", ["returns", "reports"])
def test_worker_whose_trial_was_failed_under_it_logs_it_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, then: str
) -> None:
    plan = plan_for(tmp_path, sampler="random", n_trials=3)

    with caplog.at_level(logging.WARNING):
        study = run_study(plan, functools.partial(failed_under_its_worker, then))

    assert study.trials[0].state == TrialState.FAIL
    assert len(finished_trials(study)) == 3
    assert any("trial 0 was failed by another worker" in w for w in warnings_of(caplog))


def test_trial_killed_before_its_sampler_saw_it_does_not_stop_the_next_run(
    tmp_path: Path,
) -> None:
    plan = plan_for(tmp_path, sampler="grid", n_trials=6)
    study = open_study(plan)
    # The process died between Optuna creating the trial and the grid sampler giving it a
    # grid point (found by the tune kill test).
    study._storage.create_new_trial(study._study_id)

    study = run_study(plan, make_score_params)

    assert study.trials[0].state == TrialState.FAIL
    assert len(set(grid_points(study))) == len(finished_trials(study)) == 6


def parent_run(folder: Path) -> None:
    """A parent run with 2 workers whose trials take a minute (for the kill tests)."""
    plan = plan_for(folder, workers=2, sampler="random", n_trials=4)
    run_study(plan, functools.partial(slow_trial, folder))


def slow_trial(folder: Path, _worker: int):
    def objective(trial: optuna.Trial) -> float:
        (folder / f"running-{os.getpid()}").touch()
        time.sleep(60)
        return score_params(trial)

    return objective


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_orphaned_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.test_tuning_workers", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
    )
    deadline = time.monotonic() + 60
    while len(running := list(tmp_path.glob("running-*"))) < 2:
        assert parent.poll() is None and time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    pids = [int(path.name.removeprefix("running-")) for path in running]
    children = [pid for pid in pids if pid != parent.pid]
    assert children

    parent.send_signal(signal.SIGKILL)
    parent.wait()
    killed_at = time.monotonic()

    try:
        while not all(is_gone(pid) for pid in children):
            assert time.monotonic() - killed_at < 10, "an orphaned worker kept running"
            time.sleep(0.05)
    finally:
        for pid in children:
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    parent_run(Path(sys.argv[1]))


def running_child_trial(journal: Path, parent_pid: int) -> int | None:
    """The pid of a spawned worker running a trial in ``journal``, if any."""
    if not journal.is_file() or journal.stat().st_size == 0:
        return None
    storage = JournalStorage(JournalFileBackend(str(journal)))
    for name in optuna.get_all_study_names(storage):
        for trial in optuna.load_study(study_name=name, storage=storage).get_trials(
            deepcopy=False, states=(TrialState.RUNNING,)
        ):
            worker = trial.system_attrs.get(WORKER_ATTR)
            if worker is not None and worker["pid"] != parent_pid:
                return int(worker["pid"])
    return None


@pytest.mark.slow
def test_tune_command_with_a_worker_killed_mid_trial_exits_0_with_one_warning(
    tmp_path: Path,
    tiny_inputs: object,  # noqa: F811  (the fixture imported above)
) -> None:
    args = stage_args(tmp_path, tiny_inputs)
    args[args.index("--augment") + 1] = _write_augment(tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"]["patience"] = 100
    # Trials long enough that the spawned worker (about 5 s to import) gets one while the
    # parent is still busy: at 100 epochs the parent ran all of them alone on a fast CPU.
    # tune.budget: null, or 300-epoch trials against a short final training would be cut to one.
    params["tune"].update(n_trials=6, max_epochs=300, pruner="none", budget=None)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # The log goes to a file: a pipe nobody reads while the test polls fills up with the
    # epoch lines (64 KiB) and blocks both workers in their next log call.
    log = (tmp_path / "tune.log").open("w+")
    tune = subprocess.Popen(
        [sys.executable, "-m", "pipelines.tune", *args, "--workers", "2"],
        cwd=tmp_path, text=True, stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
             "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    # Only a hang trips the deadline (a parent that ran every trial alone has exited). In the
    # slow suite on a 2-core EPYC, MLflow's first table migration in this test took 2.5 min
    # behind the earlier tests' disk writes, and a 120 s deadline failed a healthy run.
    deadline = time.monotonic() + 600
    while (child := running_child_trial(tmp_path / "optuna.journal", tune.pid)) is None:
        assert tune.poll() is None and time.monotonic() < deadline, "no worker ran a trial"
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()

    tune.wait(timeout=300)
    log.seek(0)
    stderr = log.read()
    print(f"kill -> imgclf tune exits: {time.monotonic() - killed_at:.1f} s")

    assert tune.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    (warning,) = [line for line in stderr.splitlines() if " WARNING " in line]
    assert f"tune-worker-1 (pid {child}) was killed by SIGKILL; its trial(s) [" in warning
    report = json.loads((tmp_path / "tune.json").read_text())
    assert report["counts"]["complete"] == 6
