"""The logged MLflow model: loaded by pyfunc and served over HTTP by `mlflow models serve`."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient

from imgclf.data.images import encode_png
from imgclf.evaluation.registry import promote_if_better, register_version
from imgclf.serving.mlflow_model import log_image_model
from imgclf.serving.predict import main as predict_main
from tests.support.postgres import free_port
from tests.support.tiny_classifier import CLASSES, class_image, tiny_classifier

NAME = "tiny-served"


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> tuple[str, Path]:
    """A tiny model logged to a fresh SQLite store and made ``champion``."""
    root = tmp_path_factory.mktemp("serve")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = os.getcwd()
    os.chdir(root)  # the default artifact root (./mlruns) lands in the temp folder
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("serve-test")
        classifier = tiny_classifier()
        with mlflow.start_run() as run:
            logged = log_image_model(classifier, class_image(0, np.random.default_rng(0)))
        client = MlflowClient(uri)
        version = register_version(client, NAME, logged.info.model_uri, run.info.run_id, {},
                                   model_id=logged.info.model_id)  # fmt: skip
        promote_if_better(client, NAME, version, "accuracy", 0.5)
    finally:
        os.chdir(previous)
    return uri, root


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [class_image(label, rng) for label in range(3)]


def test_pyfunc_model_from_registry_accepts_files_and_arrays(registered, monkeypatch):
    uri, root = registered
    monkeypatch.chdir(root)
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    images = _images()
    frame = pd.DataFrame(
        {"image": [base64.b64encode(encode_png(images[0])).decode(), images[1].tolist()]}
    )
    result = model.predict(frame)
    assert list(result.columns) == ["label", "probability", "probabilities"]
    assert set(result["label"]) <= set(CLASSES)
    assert np.allclose([sum(p) for p in result["probabilities"]], 1.0, atol=1e-5)
    assert model.metadata.signature.inputs.input_names() == ["image"]


def test_predict_command_reads_a_registry_uri(registered, monkeypatch, tmp_path, capsys):
    uri, root = registered
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "a.png").write_bytes(encode_png(_images()[2]))
    assert (
        predict_main(
            [str(tmp_path / "a.png"), "--model", f"models:/{NAME}@champion", "--params", "x"]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines()[1].split()[1] in CLASSES


def test_served_champion_answers_http_post(registered):
    uri, root = registered
    port = free_port()
    bin_dir = Path(sys.executable).parent
    # mlflow starts `uvicorn` by name: the venv's bin must be on PATH (as when it is activated).
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    mlflow_cli = bin_dir / "mlflow"
    server = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", f"models:/{NAME}@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read() if server.stdout else "server exited"
            try:
                if requests.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        images = _images()
        body = {"dataframe_records": [
            {"image": base64.b64encode(encode_png(images[0])).decode()},
            {"image": images[1].tolist()},
        ]}  # fmt: skip
        started = time.perf_counter()
        response = requests.post(f"{base}/invocations", json=body, timeout=30)
        latency = time.perf_counter() - started
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert len(predictions) == 2 and all(p["label"] in CLASSES for p in predictions)
        assert all(len(p["probabilities"]) == len(CLASSES) for p in predictions)
        print(f"served request latency: {latency * 1000:.1f} ms")

        bad = requests.post(
            f"{base}/invocations", json={"dataframe_records": [{"image": "bm9wZQ=="}]}, timeout=30
        )
        assert bad.status_code == 400 and "image[0]" in bad.text
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
