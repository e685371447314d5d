"""Local processes of a study: who holds the study file, who runs each trial, who is dead.

Optuna's journal file has no heartbeats (only RDB storages do), so a worker killed mid-trial
would leave its trial RUNNING forever and the others waiting for it. Each trial records the
process that runs it (host, pid, process start time); a worker on the same host that finds a
RUNNING trial of a dead process fails it and queues it once more, as Optuna's heartbeat check
does on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filelock
import optuna
import psutil
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from imgclf.errors import UserError
from imgclf.tuning.storage import StorageSpec, retry_callback

log = logging.getLogger(__name__)

WORKER_ATTR = "imgclf.worker"
"""System attr of a trial (not a user attr: the report lists user attrs, and a pid would make
it differ from run to run): the :class:`WorkerProcess` that runs it."""
LOCK_SUFFIX = ".tune.lock"  # not ".lock": Optuna's journal file lock is <journal>.lock


@dataclass(frozen=True)
class WorkerProcess:
    host: str
    pid: int
    started: float  # the process's start time: a reused pid is another process

    @classmethod
    def this_process(cls) -> WorkerProcess:
        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())

    def is_alive(self) -> bool:
        """Whether the process still runs (this host only; a zombie is dead)."""
        try:
            process = psutil.Process(self.pid)
            return (
                process.status() != psutil.STATUS_ZOMBIE
                and abs(process.create_time() - self.started) < 1.0
            )
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            return True


def record_worker(trial: optuna.Trial) -> None:
    """Note in ``trial`` that this process runs it."""
    # Trial has no public system-attr setter; its storage (a public attribute) has one.
    trial.storage.set_trial_system_attr(
        trial._trial_id, WORKER_ATTR, asdict(WorkerProcess.this_process())
    )


def worker_of(trial: FrozenTrial) -> WorkerProcess | None:
    recorded = trial.system_attrs.get(WORKER_ATTR)
    return None if recorded is None else WorkerProcess(**recorded)


def fail_and_retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Fail the RUNNING ``trial`` and queue its parameters once more (at most one retry, as
    :func:`~imgclf.tuning.storage.retry_callback` counts). False when another process had
    already finished it: only the process whose FAIL lands first queues the retry."""
    # The storage call of Optuna's own fail_stale_trials: Study.tell would also run the
    # sampler's after_trial, which fails on a trial killed before the sampler saw it (the
    # grid sampler looks up its grid_id).
    try:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except UpdateFinishedTrialError:  # finished meanwhile, by its worker or another check
        return False
    failed = copy.deepcopy(study.get_trials(deepcopy=False)[trial.number])
    # The retry is run by whichever worker pops it, not by the dead one.
    failed.system_attrs = {k: v for k, v in failed.system_attrs.items() if k != WORKER_ATTR}
    retry_callback()(study, failed)
    return True


def fail_trials_of_dead_workers(study: optuna.Study, grace_period_s: float) -> list[int]:
    """Fail (and queue once more) the RUNNING trials whose worker ran on this host and is
    dead. A trial with no worker recorded after ``grace_period_s`` lost its worker between
    Optuna creating the trial and the objective starting. Returns the failed trial numbers."""
    host = socket.gethostname()
    too_old = datetime.now() - timedelta(seconds=grace_period_s)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = worker_of(trial)
        if worker is None:
            dead = trial.datetime_start is not None and trial.datetime_start < too_old
        else:
            dead = worker.host == host and not worker.is_alive()
        if dead and fail_and_retry(study, trial):
            failed.append(trial.number)
            where = "an unknown worker" if worker is None else f"pid {worker.pid} on {host}"
            log.info("trial %d: its worker (%s) is dead; failed, queued again", trial.number, where)
    return failed


def trials_of(study: optuna.Study, pid: int) -> list[int]:
    """Numbers of the trials that process ``pid`` of this host ran (or started)."""
    host = socket.gethostname()
    return [
        trial.number
        for trial in study.get_trials(deepcopy=False)
        if (worker := worker_of(trial)) is not None and (worker.host, worker.pid) == (host, pid)
    ]


def warn_dead_worker(study: optuna.Study, name: str, pid: int, exitcode: int | None) -> None:
    """One warning line: which worker process died, how, and what became of its trials."""
    if exitcode is not None and exitcode < 0:
        how = f"was killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exited with status {exitcode} (its log lines are above)"
    trials = study.get_trials(deepcopy=False)
    interrupted = [n for n in trials_of(study, pid) if trials[n].state == TrialState.FAIL]
    lost = f"its trial(s) {interrupted} failed and ran again" if interrupted else "no trial lost"
    log.warning("%s (pid %d) %s; %s, and the study went on", name, pid, how, lost)


@contextlib.contextmanager
def exclusive_run(spec: StorageSpec) -> Iterator[None]:
    """Hold a lock beside the stage's own study file for the whole run.

    A second run on that file would take the first one's RUNNING trials for leftovers of a
    crash and fail them; it is refused instead. The kernel drops the lock with the process,
    so a killed run never blocks the next one. Storages the stage does not own are shared on
    purpose (a team) and are not locked.
    """
    if not spec.owned:
        yield
        return
    study_file = spec.location.removeprefix("sqlite:///") if spec.kind == "rdb" else spec.location
    lock_path = Path(f"{study_file}{LOCK_SUFFIX}")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise UserError(
            f"tune: another `imgclf tune` is running on {study_file} (it holds {lock_path}); "
            "wait for it to finish, or give this run its own --storage-file / --journal-file"
        ) from None
    try:
        yield
    finally:
        lock.release()


def exit_with_parent() -> None:
    """In a spawned worker: exit as soon as the process that spawned it dies (even by
    SIGKILL), instead of polling the study as an orphan. Its trial is left RUNNING for the
    dead-worker check of the next run."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        # The sentinel is a pipe the parent holds open: it reads end-of-file when it dies.
        multiprocessing.connection.wait([parent.sentinel])
        log.warning("tune worker pid %d: its parent process is gone; exiting", os.getpid())
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
