"""Everything the evaluate stage sends to MLflow, from the one :class:`Evaluation`.

The pyfunc model is logged to the evaluate run, the same metrics dict that went to
``metrics.json`` is logged to the run and linked to that logged model, every output file
becomes an artifact, and the model is registered and judged against the champion's
score on the same test images (:func:`~imgclf.evaluation.promotion.judge`); the registry
moves the aliases (:func:`~imgclf.evaluation.model_registry.apply_decision`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient

from imgclf import tracking
from imgclf.config import EvaluateConfig
from imgclf.evaluation.model_registry import apply_decision, register_version
from imgclf.evaluation.promotion import ChampionExam, PromotionDecision, judge
from imgclf.evaluation.scoring import Evaluation
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.mlflow_model import WEIGHTS_SHA_TAG, log_image_model
from imgclf.serving.model_files import logged_model_file_tags

log = logging.getLogger(__name__)

# Run tags copied onto the model version, so a version names its exact inputs.
VERSION_TAGS_FROM_RUN = (
    tracking.TAG_GIT_COMMIT,
    tracking.TAG_PARAMS_HASH,
    tracking.TAG_MANIFEST_HASH,
)


def publish_evaluation(
    evaluation: Evaluation,
    classifier: InferenceClassifier,
    example_image: np.ndarray,
    outputs: Sequence[Path],
    cfg: EvaluateConfig,
    champion: ChampionExam,
) -> PromotionDecision:
    """Log model, metrics and ``outputs`` to the active run; register the model and judge it
    against ``champion`` (scored on the same test images) by ``cfg``'s rule."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("publish_evaluation needs an active MLflow run (stage.tracked_run)")
    run_id = run.info.run_id
    logged = log_image_model(classifier, example_image)
    mlflow.log_metrics(evaluation.metrics, model_id=logged.info.model_id)
    for path in outputs:
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=_artifact_folder(path / "x"))
        else:
            mlflow.log_artifact(str(path), artifact_path=_artifact_folder(path))

    client = MlflowClient()
    run_tags = client.get_run(run_id).data.tags
    tags = {key: run_tags[key] for key in VERSION_TAGS_FROM_RUN if key in run_tags}
    tags |= {WEIGHTS_SHA_TAG: logged.weights_sha256, "imgclf.evaluate_run_id": run_id}
    # Every file's hash, kept in the registry where the artifact store cannot change it.
    tags |= logged_model_file_tags(logged.info.model_uri)
    version = register_version(
        client, cfg.model_name, logged.info.model_uri, run_id, tags, model_id=logged.info.model_id
    )
    verdict = judge(
        cfg.model_name, version, cfg.promote_metric, evaluation.labels,
        evaluation.probabilities, champion, cfg.promote_when, cfg.alpha, cfg.ece_bins,
    )  # fmt: skip
    decision = apply_decision(client, verdict)
    mlflow.set_tags(
        {
            "imgclf.model_version": version,
            "imgclf.alias": decision.alias,
            "imgclf.decision": decision.describe(),
        }
    )
    mlflow.log_dict(decision.to_dict(), "promotion.json")
    return decision


def _artifact_folder(path: Path) -> str | None:
    """``plots/roc/a.csv`` -> ``plots/roc``: artifacts mirror the output layout."""
    parent = path.parent
    if parent.is_absolute():
        return parent.name
    return None if parent == Path(".") else parent.as_posix()
