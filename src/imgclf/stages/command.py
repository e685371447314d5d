"""What every stage command shares: logging set-up, the ``--params`` option, the
user-error boundary and the stage's MLflow run.

Each ``imgclf.stages.<stage>`` module's ``main(argv)`` parses its arguments and hands its
stage function to :func:`run_stage`, which reads the params file once and turns a
:class:`~imgclf.errors.UserError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path

import mlflow

from imgclf import tracking
from imgclf.atomic import remove_leftover_temporaries
from imgclf.config import Params, load_params
from imgclf.errors import ParamError, UserError
from imgclf.fingerprint import params_hash

log = logging.getLogger("imgclf")

# MLflow's client retries a failed request 7 times with backoff (about 4 minutes) and waits
# 120 s for each answer: a stage pointed at a wrong or dead server would sit that long before
# a traceback. A user's own value of either variable wins.
MLFLOW_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def configure_logging() -> None:
    """INFO to stderr, quiet third-party chatter; IMGCLF_LOG_LEVEL overrides the level."""
    level = os.environ.get("IMGCLF_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in (
        "alembic",
        "urllib3",
        "git",
        "PIL",
        "matplotlib",
        "great_expectations",
        "numexpr",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Lightning advertises its cloud logger at every Trainer: once per trial in a study.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_drop_tips)
    # Images are decoded into memory once: loader worker processes would only add start-up.
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    # The checkpoint folder holds last.ckpt and the resume fingerprint on purpose.
    warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty")
    # MLflow's notes on each input dataset (tracking.log_datasets): a local path matches two
    # of its equivalent source kinds, and integer columns cannot hold missing values.
    warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
    warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column")
    # albumentations 2.0.8 writes PadIfNeeded's inherited `padding` into augment.json and
    # warns when it reads it back; the loaded transform is the saved one all the same.
    warnings.filterwarnings("ignore", r"Argument\(s\) 'padding' are not valid for transform PadIf")
    # Raised inside Lightning 2.6 by torch >= 2.10, nothing a user can act on.
    warnings.filterwarnings("ignore", r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def _drop_tips(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


def base_parser(stage: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes."""
    parser = argparse.ArgumentParser(prog=f"imgclf {stage}", description=description)
    parser.add_argument(
        "--params", default="params.yaml", help="the params file (default: params.yaml)"
    )
    return parser


def run_stage(
    params_file: str, stage: Callable[[Params], None], outputs: Sequence[Path] = ()
) -> int:
    """Load ``params_file`` and run ``stage`` with it; return the exit status.

    First the temporaries a killed run left among ``outputs`` (the stage's declared outputs)
    are removed. A user mistake prints one line (naming ``params_file`` when a params value
    is at fault) and returns 2; Ctrl-C returns 130; anything else is a bug and propagates.
    """
    configure_logging()
    leftovers = remove_leftover_temporaries(*outputs)
    if leftovers:
        log.info("removed %d temporary file(s) left by a killed run: %s", len(leftovers),
                 ", ".join(map(str, leftovers)))  # fmt: skip
    try:
        stage(load_params(params_file))
    except ParamError as exc:
        print(f"error: {exc.in_file(params_file)}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


@contextlib.contextmanager
def tracked_run(
    stage: str,
    params: Params,
    manifest: str | Path | None = None,
    datasets: Mapping[str, Path] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Open this stage's MLflow run: tracking URI from ``MLFLOW_TRACKING_URI`` or the
    project's local store, the project's experiment, the standard tags, and the CSV files
    the stage reads as its input ``datasets`` (``{context: path}``). Runs of this stage left
    RUNNING by a killed process on this machine are marked KILLED first."""
    uri, shown_as, timeout_s = tracking_settings(os.environ)
    experiment_id = tracking.configure(
        uri,
        params.mlflow.experiment,
        root=project_root(os.environ),
        timeout_s=timeout_s,
        shown_as=shown_as,
    )
    tracking.end_stale_runs(experiment_id, stage, socket.gethostname(), tracking.process_alive)
    tags = tracking.stage_tags(stage, params_hash(params), manifest)
    with tracking.stage_run(stage, tags) as run:
        tracking.log_datasets(datasets or {})
        yield run


def project_root(environ: Mapping[str, str]) -> Path:
    """The root of the project whose local MLflow store a run belongs to: ``DVC_ROOT``, which
    DVC sets for every stage command, to the original repository even when the experiment
    runs in a temporary copy (``dvc exp run --temp``, ``--queue``); else the working
    directory."""
    return Path(environ.get("DVC_ROOT") or ".").resolve()


def tracking_settings(environ: MutableMapping[str, str]) -> tuple[str | None, str, float]:
    """The tracking URI to give MLflow, how to show it, and how long to wait for its server.

    Sets :data:`MLFLOW_CLIENT_DEFAULTS` where ``environ`` has no value, and moves a user and
    password out of the URI into ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``,
    where MLflow's client (and a tune stage's worker processes) read them.
    """
    for name, value in MLFLOW_CLIENT_DEFAULTS.items():
        environ.setdefault(name, value)
    timeout = environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]
    if not timeout.isdigit() or int(timeout) == 0:
        raise UserError(f"MLFLOW_HTTP_REQUEST_TIMEOUT = {timeout!r}: expected whole seconds > 0")
    given = environ.get("MLFLOW_TRACKING_URI")
    if not given:
        return None, "", float(timeout)
    uri, username, password = tracking.split_credentials(given)
    if username is not None:
        environ["MLFLOW_TRACKING_USERNAME"] = username
        if password is not None:
            environ["MLFLOW_TRACKING_PASSWORD"] = password
        environ["MLFLOW_TRACKING_URI"] = uri
    return uri, tracking.mask_password(given), float(timeout)
