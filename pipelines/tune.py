"""tune stage: an Optuna study over tune.space; each trial a short Lightning training.

Workers with the same --study and --storage join one study, on one machine (--workers) or
many; tune.n_trials counts the study's total, so a re-run only runs the missing trials.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import yaml

from imgclf import tracking
from imgclf.config import Params, load_params, with_overrides
from imgclf.stage import base_parser, configure_logging, stage_main, tracked_run
from imgclf.tuning.objective import TrialInputs, build_objective, objective_fingerprint
from imgclf.tuning.plots import save_plots
from imgclf.tuning.report import write_outputs
from imgclf.tuning.samplers import trial_budget
from imgclf.tuning.space import check_space
from imgclf.tuning.storage import StorageSpec, resolve_storage
from imgclf.tuning.study import StudyPlan, run_study
from imgclf.tuning.trial_runs import study_tags

log = logging.getLogger("imgclf.tune")

STORAGE_ENV = "IMGCLF_OPTUNA_STORAGE"


@stage_main
def main(argv: Sequence[str] | None = None) -> None:
    parser = base_parser("tune", __doc__ or "")
    # Without a flag, a path is the one dvc.yaml names (its `vars: paths:`), so a team member
    # joins a study with just `imgclf tune --study NAME --storage URL` from the project root.
    paths = _dvc_paths()
    for flag, var, what in (
        ("--splits", "splits", "the split stage's folder (train/val CSVs)"),
        ("--classes", "classes", "classes.json from the ingest stage"),
        ("--augment", "augment", "the augment stage's serialized pipeline"),
        ("--storage-file", "optuna_db", "SQLite file of a one-worker study"),
        ("--journal-file", "optuna_journal", "journal file of a several-worker local study"),
        ("--best-params", "best_params", "where to write the best params (YAML)"),
        ("--report", "tune_report", "where to write every trial (JSON)"),
        ("--plots", "tune_plots", "folder for the study's PNG plots"),
    ):
        default = paths.get(var)
        parser.add_argument(flag, default=default, required=default is None, help=what)
    parser.add_argument("--study", help="study name (default: tune.study)")
    parser.add_argument(
        "--storage", help=f"Optuna storage URL (default: ${STORAGE_ENV}, then tune.storage)"
    )
    parser.add_argument("--n-trials", type=int, help="finished trials the study needs in total")
    parser.add_argument("--workers", type=int, help="worker processes on this machine")
    args = parser.parse_args(argv)

    params = _effective_params(load_params(args.params), args)
    check_space(params.tune.space, params)
    journal = args.journal_file
    storage = resolve_storage(
        params.tune.storage,
        storage_file=args.storage_file,
        journal_file=journal,
        workers=params.tune.workers,
    )
    for declared in (args.storage_file, journal):
        # Both are DVC outputs, whichever storage this run uses: an empty file is a valid
        # empty SQLite database and an empty journal.
        Path(declared).parent.mkdir(parents=True, exist_ok=True)
        Path(declared).touch()
    inputs = _inputs(args)
    fingerprint = objective_fingerprint(params, inputs)
    plan = StudyPlan(
        # The stage's own file keeps one study per objective, so changed params or data
        # (`dvc exp run -S ...`) start a fresh study; a shared storage refuses a mismatch.
        study_name=f"{params.tune.study}-{fingerprint[:8]}" if storage.owned else params.tune.study,
        storage=storage,
        tune=params.tune,
        seed=params.seed,
        workers=params.tune.workers,
        show_progress_bar=sys.stderr.isatty(),
        fingerprint=fingerprint,
    )
    # One torch thread per worker on CPU: trial models are small, intra-op threads mostly
    # spin (measured on digits, 2 cores: 8 trials in 28 s with 1 thread, 82-146 s with 2);
    # --workers is how a tune uses more cores.
    threads = 1 if params.train.accelerator == "cpu" else None
    make_objective = functools.partial(_objective, params, inputs, threads)
    log.info(
        "study %s in %s: %d trials in total, %d local worker(s), sampler %s, pruner %s",
        plan.study_name, storage.display, trial_budget(params.tune), plan.workers,
        params.tune.sampler, params.tune.pruner,
    )  # fmt: skip

    with tracked_run("tune", params):
        mlflow.set_tags(study_tags(plan.study_name, storage.display, worker=0))
        tracking.log_params_flat(
            "tune", params.tune.model_dump(mode="json", exclude={"space", "storage"})
        )
        study = run_study(
            plan,
            make_objective,
            functools.partial(_child_session, params, plan.study_name, storage.display),
        )
        document = write_outputs(
            study,
            n_trials=plan.n_trials,
            storage=storage.display,
            report=Path(args.report),
            best=Path(args.best_params),
        )
        save_plots(study, args.plots)
        mlflow.log_metric("best_val_acc", float(document["best"]["value"]))
        for path in (args.best_params, args.report):
            mlflow.log_artifact(path)
        mlflow.log_artifacts(args.plots, artifact_path="tune_plots")
    best = document["best"]
    log.info("best trial %d: val_acc %.4f with %s", best["number"], best["value"], best["params"])
    log.info("open the study: optuna-dashboard %s", _dashboard_target(storage))


def _dvc_paths(dvc_yaml: str = "dvc.yaml") -> dict[str, str]:
    """dvc.yaml's ``vars: - paths: {...}`` when run from the project root, else nothing."""
    try:
        document = yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    for entry in document.get("vars", []):
        if isinstance(entry, dict) and isinstance(entry.get("paths"), dict):
            return {str(key): str(value) for key, value in entry["paths"].items()}
    return {}


def _effective_params(params: Params, args: Any) -> Params:
    """params.yaml with the command line's (and the environment's) tune options applied."""
    overrides: dict[str, Any] = {}
    storage = args.storage or os.environ.get(STORAGE_ENV)
    for key, value in (
        ("tune.study", args.study),
        ("tune.storage", storage),
        ("tune.n_trials", args.n_trials),
        ("tune.workers", args.workers),
    ):
        if value is not None:
            overrides[key] = value
    return with_overrides(params, overrides) if overrides else params


def _inputs(args: Any) -> TrialInputs:
    return TrialInputs(splits_dir=args.splits, classes_path=args.classes, augment_path=args.augment)


def _objective(params: Params, inputs: TrialInputs, threads: int | None, worker: int) -> Any:
    return build_objective(params, inputs, worker, threads=threads)


@contextmanager
def _child_session(params: Params, study: str, storage: str, worker: int) -> Iterator[None]:
    """A spawned worker's own MLflow parent run, tagged like the stage's."""
    configure_logging()
    with tracked_run("tune", params):
        mlflow.set_tags(study_tags(study, storage, worker=worker))
        yield


def _dashboard_target(storage: StorageSpec) -> str:
    return storage.location if storage.kind == "journal" else storage.display


if __name__ == "__main__":
    raise SystemExit(main())
