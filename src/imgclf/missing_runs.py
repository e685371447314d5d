"""``imgclf missing-runs``: the pipeline stages the project's local MLflow store holds no run
of, in DAG order, on one line; ``make run`` runs them again after ``dvc repro``.

On a fresh clone DVC skips every stage whose outputs are committed (validate, augment, tune,
evaluate on the digits), so the local store would show only the stages that ran, and no
registered model: ``imgclf serve models:/imgclf-digits@champion`` would fail. Running the
missing ones again (``dvc repro --force --single-item``) costs about a minute on the digits,
and their outputs are the committed ones (``numerics: portable``), so ``git status`` stays
empty. evaluate counts as missing while the registry has no ``champion`` of
``evaluate.model_name``. Against a tracking server (``MLFLOW_TRACKING_URI``) nothing is
missing: its history is the team's, not this clone's.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imgclf import tracking
from imgclf.config import load_params
from imgclf.errors import UserError
from imgclf.evaluation.promotion import CHAMPION
from imgclf.stages import STAGES
from imgclf.stages.command import project_root, tracking_settings


def missing_stages(client: MlflowClient, experiment: str, model_name: str) -> list[str]:
    """The stages of :data:`~imgclf.stages.STAGES` without a finished run in ``experiment``;
    evaluate also while ``model_name`` has no champion."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return list(STAGES)
    missing = [
        stage
        for stage in STAGES
        if not client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`{tracking.TAG_STAGE}` = '{stage}' and status = 'FINISHED'",
            max_results=1,
        )
    ]
    if "evaluate" not in missing:
        try:
            client.get_model_version_by_alias(model_name, CHAMPION)
        except MlflowException:
            missing.append("evaluate")
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgclf missing-runs", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        uri, _, _ = tracking_settings(os.environ)
        if uri is not None:
            return 0
        params = load_params(args.params)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store, _ = tracking.local_store(project_root(os.environ))
    missing = missing_stages(
        MlflowClient(store), params.mlflow.experiment, params.evaluate.model_name
    )
    print(" ".join(missing))
    return 0
