"""When may a training run continue from ``last.ckpt``?

Only when the checkpoint folder's fingerprint (a hash of the effective params, the input
files and imgclf's source, written before the first checkpoint) matches this run's and the
run it belongs to did not finish. Anything else starts fresh in an emptied folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger

from imgclf.atomic import remove_outputs, write_json
from imgclf.config import Params
from imgclf.data.datamodule import ImageDataModule
from imgclf.errors import StaleArtifactError
from imgclf.fingerprint import code_files, content_hash
from imgclf.models.checkpoint import read_checkpoint
from imgclf.training.fit import FitResult, fit
from imgclf.training.processes import launch_rank
from imgclf.training.trainer import LAST_NAME

log = logging.getLogger(__name__)

LAST_FILE = f"{LAST_NAME}.ckpt"  # written at the end of every epoch (trainer.py)
FINGERPRINT_NAME = "fingerprint.json"


def run_fingerprint(settings: dict[str, Any], inputs: Iterable[str | Path]) -> str:
    """A hash of ``settings`` (JSON-able), the bytes of every file in ``inputs`` and imgclf's
    source: a run killed under other code does not resume under this one."""
    return content_hash(settings, [*sorted(map(str, inputs)), *code_files()], length=20)


def resumable_checkpoint(checkpoint_dir: Path, fingerprint: str) -> Path | None:
    """``last.ckpt`` if it belongs to an unfinished run with this fingerprint, else None."""
    last = checkpoint_dir / LAST_FILE
    if not last.is_file():
        return None
    stored = _read_fingerprint(checkpoint_dir)
    if stored.get("fingerprint") != fingerprint:
        log.info("%s was written with other params or data: starting fresh", last)
        return None
    if stored.get("complete"):
        log.info("%s belongs to a finished run: starting fresh", last)
        return None
    return last


def start_fresh(checkpoint_dir: Path, fingerprint: str) -> None:
    """Empty ``checkpoint_dir`` and record ``fingerprint`` for the run about to start."""
    if checkpoint_dir.exists():
        remove_outputs(*checkpoint_dir.iterdir())
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    write_json(checkpoint_dir / FINGERPRINT_NAME, {"fingerprint": fingerprint, "complete": False})


def mark_complete(checkpoint_dir: Path, fingerprint: str) -> None:
    """Record that the run finished, so a re-run (new code, ``--force``) starts over."""
    write_json(checkpoint_dir / FINGERPRINT_NAME, {"fingerprint": fingerprint, "complete": True})


def _read_fingerprint(checkpoint_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((checkpoint_dir / FINGERPRINT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def checkpoint_epochs(path: Path) -> int:
    """How many epochs the run behind a checkpoint had finished."""
    return int(read_checkpoint(path).get("epoch", -1)) + 1


def fit_resumable(
    params: Params,
    data: ImageDataModule,
    checkpoint_dir: Path,
    inputs: Iterable[str | Path],
    *,
    logger: Logger | bool = False,
    enable_progress_bar: bool = True,
) -> FitResult:
    """:func:`~imgclf.training.fit.fit` with ``params``, continuing from ``last.ckpt`` in
    ``checkpoint_dir`` when it belongs to an unfinished run of the same params and ``inputs``
    (the data files), else starting fresh there."""
    settings = {"seed": params.seed, "model": params.model.model_dump(mode="json"),
                "train": params.train.model_dump(mode="json")}  # fmt: skip
    fingerprint = run_fingerprint(settings, inputs)
    resume = resumable_checkpoint(checkpoint_dir, fingerprint)
    if resume is not None:
        try:
            log.info("resuming from %s (epoch %d finished)", resume, checkpoint_epochs(resume))
        except StaleArtifactError as exc:
            log.warning("cannot resume (%s): starting fresh", exc)
            resume = None
    # Under ddp every process runs this; only rank 0 empties the folder and marks it done
    # (the others find the same last.ckpt, or none once rank 0 has started fresh).
    leader = launch_rank(params.train) == 0
    if resume is None and leader:
        start_fresh(checkpoint_dir, fingerprint)
    result = fit(
        params.model,
        params.train,
        data,
        seed=params.seed,
        logger=logger,
        checkpoint_dir=checkpoint_dir,
        enable_progress_bar=enable_progress_bar,
        resume_from=resume,
    )
    if leader:
        mark_complete(checkpoint_dir, fingerprint)
    return result
