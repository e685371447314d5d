"""The evaluate stage on a tiny project: every declared output, MLflow run and registry."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from imgclf.models.spec import preprocess
from imgclf.serving.classifier import InferenceClassifier
from pipelines.evaluate import main
from tests.support.tiny_classifier import (
    CLASSES,
    class_image,
    tiny_classifier,
    write_checkpoint,
    write_tiny_project,
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return write_tiny_project(tmp_path)


def _run(project, *extra: str) -> int:
    return main(
        [
            "--params", "params.yaml", "--splits", "data/splits", "--images", "data/images",
            "--classes", "data/classes.json", "--model", "models/model.ckpt",
            "--onnx", "models/model.onnx", "--metrics", "metrics.json",
            "--plots", "plots", "--per-class", "reports/per_class.csv",
            "--confusion-png", "reports/confusion_matrix.png",
            "--confusion-normalized-png", "reports/confusion_matrix_normalized.png",
            "--curves-png", "reports/roc_pr_curves.png",
            "--misclassified-png", "reports/misclassified.png",
            "--predictions", "reports/predictions.csv",
            "--calibration-png", "reports/calibration.png", *extra,
        ]
    )  # fmt: skip


def test_evaluate_writes_outputs_logs_run_and_registers_champion(project, capsys):
    assert _run(project) == 0
    root = project.root
    metrics = json.loads((root / "metrics.json").read_text())
    assert {"accuracy", "f1_macro", "roc_auc_ovr", "log_loss", "ece", "n_test"} <= set(metrics)
    assert {"baseline_accuracy", "onnx_max_abs_diff"} <= set(metrics)
    assert metrics["n_test"] == 6 and metrics["onnx_max_abs_diff"] <= 1e-4
    assert all(isinstance(v, float) for v in metrics.values())
    for name in ("confusion.csv", "per_class.csv", "roc", "pr"):
        assert (root / "plots" / name).exists()
    for name in ("confusion_matrix.png", "confusion_matrix_normalized.png", "per_class.csv",
                 "roc_pr_curves.png", "misclassified.png", "calibration.png"):  # fmt: skip
        assert (root / "reports" / name).stat().st_size > 0
    assert metrics["accuracy_ci95_low"] <= metrics["accuracy"] <= metrics["accuracy_ci95_high"]
    assert metrics["baseline_delta"] == pytest.approx(
        metrics["accuracy"] - metrics["baseline_accuracy"]
    )
    assert 0 <= metrics["baseline_p_value"] <= 1
    # Every test image has its row, and the figures can be recomputed from the file.
    predictions = pd.read_csv(root / "reports" / "predictions.csv")
    test_split = pd.read_csv(root / "data" / "splits" / "test.csv")
    assert predictions["sha256"].tolist() == test_split["sha256"].tolist()
    assert (predictions["label"] == predictions["predicted"]).mean() == pytest.approx(
        metrics["accuracy"]
    )
    assert (predictions["label"] == predictions["baseline_predicted"]).mean() == pytest.approx(
        metrics["baseline_accuracy"]
    )
    assert {"recall_ci95_low", "recall_ci95_high"} <= set(
        pd.read_csv(root / "reports" / "per_class.csv").columns
    )
    assert "no champion yet, v1 is champion" in capsys.readouterr().out

    client = MlflowClient()
    version = client.get_model_version_by_alias("tiny", "champion")
    run = client.get_run(version.run_id)
    assert run.data.metrics["accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.data.tags["imgclf.stage"] == "evaluate"
    assert {"imgclf.params_hash", "imgclf.weights_sha256"} <= set(version.tags)

    # Same model again: a tie keeps the champion and the new version is the challenger.
    assert _run(project) == 0
    assert str(client.get_model_version_by_alias("tiny", "challenger").version) == "2"
    assert str(client.get_model_version_by_alias("tiny", "champion").version) == "1"


def test_unknown_promote_metric_is_one_line_naming_the_key(project, capsys):
    project.params.write_text("evaluate:\n  model_name: tiny\n  promote_metric: acc\n")
    assert _run(project) == 2
    err = capsys.readouterr().err
    assert "evaluate.promote_metric" in err and "'acc'" in err
    assert not (project.root / "metrics.json").exists()


# Quicker runs for the promotion tests: the baseline and the ONNX check do not take part.
PROMOTION_PARAMS = (
    "evaluate:\n  model_name: tiny\n  baseline: false\n  onnx_check: false\n"
    "mlflow:\n  experiment: tiny\n"
)


def _promotion(client: MlflowClient, version: str) -> dict:
    """The promotion.json artifact of the evaluate run that registered ``version``."""
    run_id = client.get_model_version("tiny", version).run_id
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/promotion.json")


def _champion(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias("tiny", "champion").version)


def test_re_evaluating_the_same_weights_on_a_changed_test_split_gives_delta_0_and_keeps_the_champion(  # noqa: E501 (the name the issue gives)
    project,
):
    project.params.write_text(PROMOTION_PARAMS)
    assert _run(project) == 0
    client = MlflowClient()
    first = _promotion(client, "1")
    assert first["promoted"] and first["n_test"] == 6

    # A re-split: the test split now holds other images (two of the old ones, and the
    # train images), same classes; the weights are the very same file.
    test_csv = project.splits / "test.csv"
    old_test = pd.read_csv(test_csv)
    new_test = pd.concat([old_test.iloc[::3], pd.read_csv(project.splits / "train.csv")])
    new_test.to_csv(test_csv, index=False)
    assert _run(project) == 0

    second = _promotion(client, "2")
    assert second["n_test"] == len(new_test) == 14
    # The stored figure of v1 was earned on the old split; the champion sat the new one.
    assert second["value"] != first["value"]
    assert second["champion_version"] == "1"
    assert second["champion_value"] == second["value"]
    assert second["delta"] == 0
    assert second["promoted"] is False
    assert _champion(client) == "1"


def _relabel(project, names: tuple[str, ...]) -> None:
    """The same images and weights, but classes called ``names`` (as if ingest had named
    the folders otherwise): classes.json, the split labels and the checkpoint's spec."""
    old = json.loads(project.classes.read_text())["classes"]
    rename = dict(zip(old, names, strict=True))
    project.classes.write_text(json.dumps({"classes": list(names)}))
    for split in ("train", "test"):
        path = project.splits / f"{split}.csv"
        frame = pd.read_csv(path)
        frame["label"] = frame["label"].map(rename)
        frame.to_csv(path, index=False)
    checkpoint = torch.load(project.model, weights_only=False)
    checkpoint["hyper_parameters"]["spec"]["class_names"] = list(names)
    torch.save(checkpoint, project.model)


def test_a_champion_with_other_class_names_is_kept_with_one_line_saying_why_and_how_to_move_it(
    project, capsys
):
    project.params.write_text(PROMOTION_PARAMS)
    _relabel(project, ("black", "grey", "white"))
    assert _run(project) == 0
    client = MlflowClient()
    assert _champion(client) == "1"
    capsys.readouterr()

    _relabel(project, CLASSES)
    assert _run(project) == 0

    lines = [line for line in capsys.readouterr().out.splitlines() if "champion v1" in line]
    assert len(lines) == 1, lines
    line = lines[0]
    assert "its classes black, grey, white are not this run's dark, mid, bright" in line
    assert "it is kept and v2 is challenger" in line
    assert "MLflow UI" in line
    assert 'set_registered_model_alias("tiny", "champion", "2")' in line
    decision = _promotion(client, "2")
    assert decision["promoted"] is False
    assert decision["champion_version"] == "1" and decision["champion_value"] is None
    assert _champion(client) == "1"
    assert str(client.get_model_version_by_alias("tiny", "challenger").version) == "2"


def _trained_classifier() -> InferenceClassifier:
    """The tiny network fitted to brightness-coded images: right where the untrained one
    guesses, yet on 6 test images too few wins for McNemar to call it proven."""
    classifier = tiny_classifier(seed=0)
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(len(CLASSES)), 20)
    images = np.stack([class_image(int(label), rng) for label in labels])
    inputs, targets = preprocess(images, classifier.spec), torch.as_tensor(labels)
    optimizer = torch.optim.Adam(classifier.net.parameters(), lr=0.05)
    classifier.net.train()
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(classifier.net(inputs), targets).backward()
        optimizer.step()
    classifier.net.eval()
    return classifier


def test_a_better_but_not_proven_challenger_is_kept_under_significant_and_promoted_under_better(
    project,
):
    project.params.write_text(PROMOTION_PARAMS)
    assert _run(project) == 0  # the untrained network becomes v1, champion
    write_checkpoint(_trained_classifier(), project.model)
    client = MlflowClient()

    assert _run(project) == 0
    kept = _promotion(client, "2")
    assert kept["rule"] == "significant" and kept["test"] == "mcnemar_exact"
    assert kept["value"] > kept["champion_value"] and kept["delta"] > 0
    assert kept["p_value"] >= kept["alpha"] == 0.05
    assert kept["promoted"] is False and "not proven" in kept["reason"]
    assert _champion(client) == "1"

    project.params.write_text(
        PROMOTION_PARAMS.replace("  onnx_check", "  promote_when: better\n  onnx_check")
    )
    assert _run(project) == 0  # the same better weights again, judged by `better`
    promoted = _promotion(client, "3")
    assert promoted["rule"] == "better" and promoted["champion_version"] == "1"
    assert promoted["delta"] == kept["delta"] and promoted["promoted"] is True
    assert _champion(client) == "3"
