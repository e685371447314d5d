"""One study, any number of workers, exactly ``n_trials`` finished trials.

``n_trials`` is the study's total, not a per-run count: a re-run after a crash, or a worker
joining late, runs only the trials still missing. Three rules make "exactly" hold while
workers on several machines share one storage:

1. before starting a trial a worker counts finished (complete or pruned) and running trials;
   when they already fill the budget it waits for the running ones instead of starting more
   (a running trial may still fail and be retried);
2. trial numbers are handed out atomically by the storage, so inside the trial the worker
   claims its slot by number: a trial whose lower-numbered, non-failed trials already fill
   the budget lost a race and ends as FAIL (user attr ``imgclf.over_budget``) before any
   training; it is not retried;
3. a trial interrupted by a dead worker is failed (heartbeat on RDB storages, the worker's
   process gone on a journal file, or at start-up on the stage's own files) and retried at
   most once with the same parameters; a worker whose trial was failed that way while it
   still ran it drops its result and goes on.

Optuna's ``MaxTrialsCallback`` alone checks only after a trial ends, so concurrent workers
overshoot; rule 1 and 2 are the part it leaves out.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from imgclf.config import TuneConfig
from imgclf.errors import UserError
from imgclf.tuning.liveness import (
    exit_with_parent,
    fail_and_retry,
    fail_trials_of_dead_workers,
    record_worker,
    warn_dead_worker,
)
from imgclf.tuning.pruners import build_pruner
from imgclf.tuning.samplers import build_sampler, trial_budget
from imgclf.tuning.space import grid_size, grid_values
from imgclf.tuning.storage import StorageSpec, open_storage

log = logging.getLogger(__name__)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
OVER_BUDGET = "imgclf.over_budget"
DEFAULTS = "imgclf.defaults"  # user attr of the trial queued with params.yaml's own values
FINGERPRINT = "imgclf.objective_fingerprint"

Objective = Callable[[optuna.Trial], float]
ObjectiveFactory = Callable[[int], Objective]
"""Worker index -> that worker's objective (built once per worker process)."""
WorkerSession = Callable[[int], AbstractContextManager[Any]]
"""Worker index -> context held around a child worker's trials (its MLflow parent run)."""


@dataclass(frozen=True)
class StudyPlan:
    """Everything a worker process needs to join the study (picklable)."""

    study_name: str
    storage: StorageSpec
    tune: TuneConfig
    seed: int
    workers: int = 1
    show_progress_bar: bool = False
    poll_s: float = 1.0
    fingerprint: str | None = None
    """What the objective depends on (see :func:`objective_fingerprint`): a study holds
    trials of one objective only."""
    defaults: dict[str, Any] | None = None
    """params.yaml's own values of the space's keys: queued as one of the ``n_trials``, so
    that the study shows whether tuning paid at all (None: not a contestant)."""

    @property
    def n_trials(self) -> int:
        return trial_budget(self.tune)


class _OverBudget(Exception):
    """Raised inside a trial that lost the race for the study's last slot."""


def open_study(plan: StudyPlan, worker: int = 0) -> optuna.Study:
    """Create the study or load it (workers racing to create it all end up in one)."""
    storage = open_storage(
        plan.storage,
        heartbeat_interval_s=plan.tune.heartbeat_interval_s,
        grace_period_s=plan.tune.grace_period_s,
    )
    study = optuna.create_study(
        storage=storage,
        study_name=plan.study_name,
        direction="maximize",
        pruner=build_pruner(plan.tune.pruner, plan.tune.max_epochs),
        load_if_exists=True,
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UserError(
            f"tune: study {plan.study_name!r} in {plan.storage.display} minimizes; "
            "use another --study name"
        )
    _check_fingerprint(study, plan)
    # Random and TPE: seeded by worker and by how far the study got, so parallel workers and
    # re-runs do not replay the same points. Grid: GridSampler shuffles the grid with its seed
    # and a trial's grid_id indexes that order, so every worker and re-run needs the same seed.
    offset = len(study.get_trials(deepcopy=False))
    parallel = plan.workers > 1 or not plan.storage.owned
    seed = plan.seed if plan.tune.sampler == "grid" else plan.seed + 7919 * worker + offset
    study.sampler = build_sampler(plan.tune, seed, parallel=parallel)
    return study


def _check_fingerprint(study: optuna.Study, plan: StudyPlan) -> None:
    if plan.fingerprint is None:
        return
    found = study.user_attrs.get(FINGERPRINT)
    if found is None:
        study.set_user_attr(FINGERPRINT, plan.fingerprint)
    elif found != plan.fingerprint:
        raise UserError(
            f"tune: study {plan.study_name!r} in {plan.storage.display} holds trials of other "
            "params or data (model.*, train.*, tune.space, splits...); give this run its own "
            "--study name, or run it with the params the study was started with"
        )


def recover_interrupted_trials(study: optuna.Study) -> list[int]:
    """Fail trials left RUNNING by a crashed run and queue each for one retry.

    Only for storages no other worker uses (the stage's own files); shared storages rely on
    heartbeats instead. Returns the numbers of the failed trials.
    """
    failed = [
        trial.number
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if fail_and_retry(study, trial)
    ]
    if failed:
        log.warning(
            "trials %s were interrupted by an earlier run: failed, and queued once more", failed
        )
    return failed


def enqueue_defaults(study: optuna.Study, plan: StudyPlan) -> bool:
    """Queue one trial with ``plan.defaults`` unless the study already has it or is full.

    The grid sampler runs exactly its points, so there the defaults are a contestant only as
    one of them. Two machines starting a shared study at the same instant may both queue it
    (Optuna's ``skip_if_exists`` is not atomic); the budget still holds, since a queued
    trial is one of ``n_trials``. Returns whether a trial was queued.
    """
    if plan.defaults is None or plan.tune.sampler == "grid":
        return False
    if any(trial.user_attrs.get(DEFAULTS) for trial in study.get_trials(deepcopy=False)):
        return False
    if not _Census.of(study, None).needs_new_trial(plan.n_trials):
        return False
    study.enqueue_trial(plan.defaults, user_attrs={DEFAULTS: True}, skip_if_exists=True)
    return True


def run_study(
    plan: StudyPlan,
    make_objective: ObjectiveFactory,
    child_session: WorkerSession | None = None,
) -> optuna.Study:
    """Run ``plan.workers`` workers (this process is worker 0) until the study is complete.

    ``make_objective`` and ``child_session`` must be picklable (module-level functions or
    ``functools.partial`` of them): worker processes are spawned, not forked. A worker
    process that dies costs its trial one retry and one warning line; the study still
    completes.
    """
    study = open_study(plan, worker=0)
    if plan.storage.owned:
        recover_interrupted_trials(study)
    enqueue_defaults(study, plan)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_child_worker,
            args=(plan, make_objective, child_session, index),
            name=f"tune-worker-{index}",
        )
        for index in range(1, plan.workers)
    ]
    for child in children:
        child.start()
    try:
        run_worker(study, make_objective(0), plan, progress=plan.show_progress_bar)
    finally:
        for child in children:
            child.join()
    for child in children:
        if child.exitcode != 0 and child.pid is not None:
            warn_dead_worker(study, child.name, child.pid, child.exitcode)
    return study


def run_worker(
    study: optuna.Study, objective: Objective, plan: StudyPlan, *, progress: bool = False
) -> int:
    """Run trials of ``study`` in this process until it has ``plan.n_trials`` finished
    trials (or ``tune.timeout_s`` passes). Returns how many trials this worker started."""
    budget = plan.n_trials
    grid_points = _grid_points(plan)
    deadline = None if plan.tune.timeout_s is None else time.monotonic() + plan.tune.timeout_s
    started = 0
    lost: list[int] = []  # trials failed by another process while this one ran them

    def claimed(trial: optuna.Trial) -> float:
        nonlocal started
        started += 1
        record_worker(trial)
        if not _claims_slot(study, trial.number, budget):
            trial.set_user_attr(OVER_BUDGET, True)
            study.stop()
            raise _OverBudget(f"trial {trial.number}: the study already has {budget} trials")
        try:
            value = objective(trial)
        except Exception:
            _note_if_finished_elsewhere(study, trial.number, lost)
            raise
        _note_if_finished_elsewhere(study, trial.number, lost)
        return value

    def stop_when_full(study: optuna.Study, _trial: FrozenTrial) -> None:
        census = _Census.of(study, grid_points)
        if not census.needs_new_trial(budget) and census.waiting == 0:
            study.stop()

    while True:
        if plan.storage.kind == "journal":  # RDB storages have heartbeats instead
            fail_trials_of_dead_workers(study, plan.tune.grace_period_s)
        census = _Census.of(study, grid_points)
        if census.finished >= budget:
            break
        left_s = None if deadline is None else deadline - time.monotonic()
        if left_s is not None and left_s <= 0:
            log.info("tune.timeout_s reached: %d of %d trials finished", census.finished, budget)
            break
        if census.waiting or census.needs_new_trial(budget):
            try:
                study.optimize(
                    claimed,
                    n_trials=max(1, budget - census.finished - census.running),
                    timeout=left_s,
                    callbacks=[stop_when_full],
                    catch=(_OverBudget,),
                    show_progress_bar=progress,
                )
            except Exception:
                # Optuna cannot tell a trial that is already finished; its retry (if any)
                # is in the study, so this worker drops the result and goes on.
                if not lost:
                    raise
                log.warning(
                    "trial %d was failed by another worker while this one ran it (a stale "
                    "heartbeat); its result is dropped",
                    lost.pop(),
                )
        elif census.running:
            # The budget is taken by running trials, maybe of a dead worker: wait, and let
            # the heartbeat check fail (and re-queue) those that went stale.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(study)
            time.sleep(plan.poll_s)
        else:
            break  # grid: every point has a finished trial
    return started


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete and pruned trials, in trial-number order."""
    return study.get_trials(deepcopy=False, states=COUNTED)


@dataclass(frozen=True)
class _Census:
    finished: int
    running: int
    waiting: int
    grid_open: bool  # grid sampler: some point has no trial yet (always True otherwise)

    @classmethod
    def of(cls, study: optuna.Study, grid_points: int | None) -> _Census:
        trials = study.get_trials(deepcopy=False)
        taken = {
            t.system_attrs.get("grid_id")
            for t in trials
            if t.state != TrialState.FAIL or OVER_BUDGET not in t.user_attrs
        }
        return cls(
            finished=sum(t.state in COUNTED for t in trials),
            running=sum(t.state == TrialState.RUNNING for t in trials),
            waiting=sum(t.state == TrialState.WAITING for t in trials),
            grid_open=grid_points is None or not taken.issuperset(range(grid_points)),
        )

    def needs_new_trial(self, budget: int) -> bool:
        return self.finished + self.running + self.waiting < budget and self.grid_open


def _note_if_finished_elsewhere(study: optuna.Study, number: int, lost: list[int]) -> None:
    if study.get_trials(deepcopy=False)[number].state.is_finished():
        lost.append(number)


def _claims_slot(study: optuna.Study, number: int, budget: int) -> bool:
    trials = study.get_trials(deepcopy=False, states=(*COUNTED, TrialState.RUNNING))
    return sum(t.number < number for t in trials) < budget


def _grid_points(plan: StudyPlan) -> int | None:
    return grid_size(grid_values(plan.tune.space)) if plan.tune.sampler == "grid" else None


def _child_worker(
    plan: StudyPlan, make_objective: ObjectiveFactory, session: WorkerSession | None, index: int
) -> None:
    exit_with_parent()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with session(index) if session is not None else contextlib.nullcontext():
        # Inside the session: it configures logging in this freshly spawned process.
        log.info("tune worker %d (pid %d) joins study %s", index, os.getpid(), plan.study_name)
        study = open_study(plan, worker=index)
        run_worker(study, make_objective(index), plan)
