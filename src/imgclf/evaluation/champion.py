"""The champion sits the new model's exam: it is loaded from the registry and scored on
this run's test images, so the promotion decision compares two models on the same images
(not a figure the champion earned on the test split of its own day)."""

from __future__ import annotations

import logging
import tempfile

import mlflow
from mlflow import MlflowClient

from imgclf.data.split_reader import ImageArray
from imgclf.evaluation.model_registry import current_champion
from imgclf.evaluation.promotion import ChampionExam
from imgclf.models.spec import ModelSpec
from imgclf.serving.classifier import InferenceClassifier
from imgclf.serving.model_files import verified_model_copy

log = logging.getLogger(__name__)


def sit_champion_exam(
    client: MlflowClient, model_name: str, spec: ModelSpec, test_images: ImageArray
) -> ChampionExam:
    """Load the current champion of ``model_name`` and score it on ``test_images`` (those
    the model of ``spec`` was scored on). A champion that cannot sit this exam comes back
    with the reason instead of probabilities."""
    version = current_champion(client, model_name)
    if version is None:
        return ChampionExam(None)
    # The version, not the alias: the alias may move while this run scores it.
    uri = f"models:/{model_name}/{version}"
    try:
        # Loaded from a copy whose files match the hashes recorded at registration: the
        # model's code file runs on load, so a changed one must never reach this process.
        with tempfile.TemporaryDirectory() as folder:
            local = verified_model_copy(uri, folder)
            champion = mlflow.pyfunc.load_model(str(local)).unwrap_python_model().classifier
    except Exception as exc:  # whatever breaks the load (old code, missing files), it stays
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        return ChampionExam(version, unfit=f"{uri} fails to load: {first_line}")
    if not isinstance(champion, InferenceClassifier):
        return ChampionExam(version, unfit=f"{uri} is not an imgclf image classifier")
    unfit = exam_mismatch(champion.spec, spec)
    if unfit is not None:
        return ChampionExam(version, unfit=unfit)
    log.info("champion v%s sits the same %d test images", version, len(test_images))
    # An InferenceClassifier (checked above) reads and runs the images a batch at a time.
    return ChampionExam(version, probabilities=champion.probabilities(test_images))


def exam_mismatch(champion: ModelSpec, new: ModelSpec) -> str | None:
    """Why a champion of spec ``champion`` cannot be scored on the images of a model of
    spec ``new`` (None: it can)."""
    if tuple(champion.class_names) != tuple(new.class_names):
        return (
            f"its classes {', '.join(champion.class_names)} are not this run's "
            f"{', '.join(new.class_names)}"
        )
    if champion.in_channels != new.in_channels:
        return f"it reads {champion.in_channels}-channel images, this run's have {new.in_channels}"
    if champion.image_size != new.image_size:
        return (
            f"it reads {champion.image_size}x{champion.image_size} images, this run's are "
            f"{new.image_size}x{new.image_size}"
        )
    return None
