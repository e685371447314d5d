"""The evaluate stage on a tiny project: every declared output, MLflow run and registry."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from pipelines.evaluate import main
from tests.support.tiny_classifier import write_tiny_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return write_tiny_project(tmp_path)


def _run(project, *extra: str) -> int:
    return main(
        [
            "--params", "params.yaml", "--splits", "data/splits",
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
