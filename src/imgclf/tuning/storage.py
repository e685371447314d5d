"""Where a study lives: a local SQLite file, Optuna's journal file, or any RDB URL.

* one local worker: SQLite (``--storage-file``, e.g. ``models/optuna.db``);
* several local workers: Optuna's journal file (``--journal-file``): Optuna advises against
  SQLite with parallel workers, its file lock makes them fail with "database is locked";
* a team: one storage URL (PostgreSQL, MySQL) with heartbeats, so a worker that dies
  mid-trial has its trial failed by the next worker and retried once.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import sqlalchemy.exc
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from imgclf.errors import UserError
from imgclf.tracking import mask_password

log = logging.getLogger(__name__)

MAX_RETRY = 1
# libpq's and the MySQL drivers' connect_timeout: without one, a host that never answers
# holds a worker for the kernel's TCP timeout (minutes) before the first trial.
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class StorageSpec:
    """``kind`` rdb: ``location`` is a SQLAlchemy URL; journal: a file path.

    ``owned``: the stage's own default file, which no worker outside this stage uses, so
    trials it finds RUNNING at start were interrupted by an earlier crash.
    """

    kind: Literal["rdb", "journal"]
    location: str
    owned: bool

    @property
    def display(self) -> str:
        """The location with any password masked, for logs and MLflow tags."""
        return mask_password(self.location) if self.kind == "rdb" else self.location


def resolve_storage(
    url: str | None, *, storage_file: str, journal_file: str, workers: int
) -> StorageSpec:
    """Pick the storage for ``workers`` local processes.

    ``url``: an Optuna storage URL (``sqlite:///...``, ``postgresql://...``) or a journal
    file path; ``None`` means the stage's own files. A SQLite URL with ``workers`` > 1 is a
    :class:`UserError` saying why.
    """
    if url is None:
        if workers == 1:
            return StorageSpec("rdb", f"sqlite:///{storage_file}", owned=True)
        return StorageSpec("journal", journal_file, owned=True)
    if "://" not in url:
        return StorageSpec("journal", url, owned=False)
    if url.startswith("sqlite") and workers > 1:
        raise UserError(
            f"tune: storage {url!r} with --workers {workers}: SQLite locks the whole file on "
            "every write, so parallel workers fail with 'database is locked' (Optuna advises "
            "against it); leave the storage unset to use the journal file, use a PostgreSQL "
            "URL, or run --workers 1"
        )
    return StorageSpec("rdb", url, owned=False)


def open_storage(
    spec: StorageSpec,
    *,
    heartbeat_interval_s: int,
    grace_period_s: int,
    attempts: int = 6,
    connect_timeout_s: int = CONNECT_TIMEOUT_S,
) -> optuna.storages.BaseStorage:
    """Open ``spec``; RDB storages get heartbeats and at most one retry of a stale trial,
    and a server database gives up connecting after ``connect_timeout_s``.

    Workers starting at once on a fresh database race on creating Optuna's tables (PostgreSQL
    answers the loser with a unique violation on its catalog); the loser retries after a
    short random pause and then finds the tables in place.
    """
    if spec.kind == "journal":
        Path(spec.location).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(spec.location))
    if spec.location.startswith("sqlite:///"):
        Path(spec.location.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():
                # Heartbeats and the retry callback are "experimental" since Optuna 2.x.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    spec.location,
                    engine_kwargs=_engine_kwargs(spec.location, connect_timeout_s),
                    heartbeat_interval=heartbeat_interval_s,
                    grace_period=grace_period_s,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRY
                    ),
                )
        except sqlalchemy.exc.ArgumentError:
            raise UserError(
                f"tune: storage {spec.display!r} is not a database URL SQLAlchemy knows "
                "(e.g. postgresql://user:password@host/db) nor a journal file path"
            ) from None
        except sqlalchemy.exc.OperationalError as exc:
            if (
                attempt == attempts
                or "could not connect" in str(exc)
                or "Connection refused" in str(exc)
                or "timeout expired" in str(exc)
            ):
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                raise UserError(
                    f"tune: cannot open study storage {spec.display}: {reason}"
                ) from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if attempt == attempts:
                raise
            log.info("storage set-up raced with another worker (%s); retrying", type(exc).__name__)
        time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def _engine_kwargs(url: str, connect_timeout_s: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith(("postgresql", "mysql")):
        kwargs["connect_args"] = {"connect_timeout": connect_timeout_s}
    return kwargs


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that queues a stale trial again, at most ``MAX_RETRY`` times."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
