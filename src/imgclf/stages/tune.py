"""tune stage: an Optuna study over tune.space; each trial a short Lightning training.

Workers with the same --study and --storage join one study, on one machine (--workers) or
many; tune.n_trials counts the study's total, so a re-run only runs the missing trials.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from imgclf import tracking
from imgclf.config import Params, TrainConfig, with_overrides
from imgclf.data.schema import read_classes
from imgclf.data.split_reader import split_image_size
from imgclf.fingerprint import code_files, content_hash
from imgclf.models.architectures import check_architecture
from imgclf.stages.command import base_parser, configure_logging, run_stage, tracked_run
from imgclf.stages.default_paths import DEFAULT_PATHS
from imgclf.training.fit import resolved_auto, resolved_model_keys
from imgclf.training.hardware import available_cores, resolve_threads
from imgclf.tuning.budget import budgeted_trials
from imgclf.tuning.liveness import exclusive_run
from imgclf.tuning.objective import (
    TrialInputs,
    build_objective,
    objective_fingerprint,
    validation_rows,
)
from imgclf.tuning.plots import save_plots
from imgclf.tuning.report import choose, write_study_outputs
from imgclf.tuning.samplers import trial_budget
from imgclf.tuning.space import check_space, default_point
from imgclf.tuning.storage import StorageSpec, resolve_storage
from imgclf.tuning.study import StudyPlan, run_study
from imgclf.tuning.trial_runs import study_tags

log = logging.getLogger("imgclf.tune")

STORAGE_ENV = "IMGCLF_OPTUNA_STORAGE"


@dataclass(frozen=True)
class TunePaths:
    splits: Path
    images: Path
    classes: Path
    augment: Path
    storage_file: Path
    journal_file: Path
    best_params: Path
    report: Path
    plots: Path
    predictions: Path


def run_tune(params: Params, paths: TunePaths, show_progress_bar: bool = False) -> None:
    """Run (or join, or finish) the study and write the best params, report and plots; one
    run at a time on the stage's own study file (a second one is a UserError)."""
    check_models(params)
    check_space(params.tune.space, params)
    storage = resolve_storage(
        params.tune.storage,
        storage_file=str(paths.storage_file),
        journal_file=str(paths.journal_file),
        workers=params.tune.workers,
    )
    with exclusive_run(storage):
        _tune(params, paths, storage, show_progress_bar)


def _tune(params: Params, paths: TunePaths, storage: StorageSpec, show_progress_bar: bool) -> None:
    for declared in (paths.storage_file, paths.journal_file):
        # Both are DVC outputs, whichever storage this run uses: an empty file is a valid
        # empty SQLite database and an empty journal.
        declared.parent.mkdir(parents=True, exist_ok=True)
        declared.touch()
    inputs = TrialInputs(
        str(paths.splits), str(paths.images), str(paths.classes), str(paths.augment)
    )
    fingerprint = objective_fingerprint(params, inputs)
    # The budget only lowers how many trials run, not what a trial computes (the fingerprint).
    n_trials, cost = budgeted_trials(params, paths.splits, trial_budget(params.tune))
    params = with_overrides(params, {"tune.n_trials": n_trials})
    # The stage's own file keeps one study per objective and per version of the code, so
    # changed params, data (`dvc exp run -S ...`) or training code start a fresh study, whose
    # trials are the ones a fresh clone computes; a shared storage refuses another objective
    # but lets teammates on other commits share it.
    local_name = f"{params.tune.study}-{content_hash(fingerprint, code_files(), length=8)}"
    image_size = split_image_size(paths.splits / "train.csv", paths.images)
    resolved = resolved_model_keys(params, image_size)
    # `auto` stands for what it resolves to on this data (model.width: auto -> 32 at 8 px).
    auto = with_overrides(params, resolved_auto(params, image_size))
    defaults, not_a_contestant = default_point(params.tune.space, auto)
    if defaults is None:
        log.info("params.yaml's own values are no trial of the study: %s", not_a_contestant)
    plan = StudyPlan(
        study_name=local_name if storage.owned else params.tune.study,
        storage=storage,
        tune=params.tune,
        seed=params.seed,
        workers=params.tune.workers,
        show_progress_bar=show_progress_bar,
        fingerprint=fingerprint,
        defaults=defaults,
    )
    threads = worker_threads(params.train, params.tune.workers, image_size)
    if threads is not None:
        params = with_overrides(params, {"train.num_threads": threads})
    make_objective = functools.partial(_objective, params, inputs, threads)
    log.info(
        "study %s in %s: %s; %d local worker(s), sampler %s, pruner %s",
        plan.study_name, storage.display, cost, plan.workers, params.tune.sampler,
        params.tune.pruner,
    )  # fmt: skip

    splits = {name: paths.splits / f"{name}.csv" for name in ("train", "val")}
    with tracked_run("tune", params, datasets=splits):
        mlflow.set_tags(study_tags(plan.study_name, storage.display, worker=0))
        tracking.log_params_flat(
            "tune", params.tune.model_dump(mode="json", exclude={"space", "storage"})
        )
        study = run_study(
            plan,
            make_objective,
            functools.partial(_child_session, params, plan.study_name, storage.display),
        )
        rows = validation_rows(paths.splits, params.tune.folds)
        classes = read_classes(paths.classes)
        choice = choose(study, rows, classes, params.tune, defaults)
        document = write_study_outputs(
            study,
            n_trials=plan.n_trials,
            storage=storage.display,
            report=paths.report,
            best=paths.best_params,
            resolved=resolved,
            choice=choice,
            predictions=paths.predictions,
            rows=rows,
            classes=classes,
        )
        save_plots(study, paths.plots)
        _log_evidence(document)
        for path in (paths.best_params, paths.report, paths.predictions):
            mlflow.log_artifact(str(path))
        mlflow.log_artifacts(str(paths.plots), artifact_path="tune_plots")
    best, selected = document["best"], document["selected"]
    log.info("best trial %d: val_acc %.4f with %s", best["number"], best["value"], best["params"])
    for line in (document.get("verdict"), document.get("defaults"), selected["reason"]):
        if line:
            log.info("%s", line)
    log.info("open the study: optuna-dashboard %s", _dashboard_target(storage))


def _log_evidence(document: dict[str, Any]) -> None:
    """The parent run's figures of the study: its best value, the verdict line as a tag,
    how many trials tie with the best, and the runner-up's p-value."""
    mlflow.log_metric("best_val_acc", float(document["best"]["value"]))
    mlflow.set_tag("imgclf.selected_trial", str(document["selected"]["number"]))
    if "verdict" not in document:
        return
    mlflow.set_tags({"imgclf.tune_verdict": document["verdict"]})
    mlflow.log_metric("trials_tied_with_best", len(document["tied_with_best"]))
    if document.get("runner_up"):
        mlflow.log_metric("runner_up_p_value", document["runner_up"]["p_value"])


def check_models(params: Params) -> None:
    """Every architecture a trial may build is one the registry knows."""
    names = [params.model.name]
    if "model.name" in params.tune.space:
        names += [str(name) for name in params.tune.space["model.name"].choices or []]
    for name in names:
        check_architecture(name)


def tune_overrides(args: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    """The command line's (and the environment's) tune options as dotted overrides."""
    storage = args.storage or environ.get(STORAGE_ENV)
    values = {
        "tune.study": args.study,
        "tune.storage": storage,
        "tune.n_trials": args.n_trials,
        "tune.workers": args.workers,
    }
    overrides = {key: value for key, value in values.items() if value is not None}
    if args.n_trials is not None:
        overrides["tune.budget"] = None  # a count asked for on the command line is run whole
    return overrides


def worker_threads(train: TrainConfig, workers: int, image_size: int) -> int | None:
    """torch CPU threads per study worker: ``train.num_threads`` (resolved for images of
    ``image_size`` px by :func:`resolve_threads`), shared out so that the workers never ask
    for more threads than there are cores. Oversubscribed
    threads spin: on 2 cores, 8 digits trials took 28 s with 1 thread each and 82-146 s with
    2 while another process ran. None off the CPU (the GPU does the work)."""
    if train.accelerator != "cpu":
        return None
    threads = resolve_threads(train.num_threads, image_size)
    return max(1, min(threads, available_cores() // workers))


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


def main(argv: Sequence[str] | None = None) -> int:
    """``imgclf tune`` and the stage command of ``dvc.yaml``; returns the exit status."""
    parser = base_parser("tune", __doc__ or "")
    # Without a flag, a path is the one dvc.yaml declares, so a team member joins a study
    # with just `imgclf tune --study NAME --storage URL` from the project root.
    for flag, var, what in (
        ("--splits", "splits", "the split stage's folder (train/val CSVs)"),
        ("--images", "images", "the image store (ingest's shards)"),
        ("--classes", "classes", "classes.json from the ingest stage"),
        ("--augment", "augment", "the augment stage's serialized pipeline"),
        ("--storage-file", "optuna_db", "SQLite file of a one-worker study"),
        ("--journal-file", "optuna_journal", "journal file of a several-worker local study"),
        ("--best-params", "best_params", "where to write the best params (YAML)"),
        ("--report", "tune_report", "where to write every trial (JSON)"),
        ("--plots", "tune_plots", "folder for the study's PNG plots"),
        ("--predictions", "tune_predictions", "every complete trial's val predictions (CSV)"),
    ):
        parser.add_argument(flag, type=Path, default=Path(DEFAULT_PATHS[var]), help=what)
    parser.add_argument("--study", help="study name (default: tune.study)")
    parser.add_argument(
        "--storage", help=f"Optuna storage URL (default: ${STORAGE_ENV}, then tune.storage)"
    )
    parser.add_argument("--n-trials", type=int, help="finished trials the study needs in total")
    parser.add_argument("--workers", type=int, help="worker processes on this machine")
    args = parser.parse_args(argv)
    paths = TunePaths(
        args.splits, args.images, args.classes, args.augment, args.storage_file, args.journal_file,
        args.best_params, args.report, args.plots, args.predictions,
    )  # fmt: skip
    overrides = tune_overrides(args, os.environ)

    def stage(params: Params) -> None:
        effective = with_overrides(params, overrides) if overrides else params
        run_tune(effective, paths, show_progress_bar=sys.stderr.isatty())

    outputs = (paths.best_params, paths.report, paths.plots, paths.predictions)
    return run_stage(args.params, stage, outputs)
