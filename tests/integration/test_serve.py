"""The logged MLflow model: loaded by pyfunc and served over HTTP by MLflow's scoring server
(through `imgclf serve`, which checks the registered files first), within its limits."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import psutil
import pytest
import requests
from mlflow import MlflowClient
from PIL import Image

from imgclf.data.images import encode_png
from imgclf.evaluation.model_registry import promote_if_better, register_version
from imgclf.serving.mlflow_model import log_image_model
from imgclf.serving.model_files import logged_model_file_tags
from imgclf.serving.predict import main as predict_main
from tests.support.postgres import free_port
from tests.support.tiny_classifier import CLASSES, class_image, tiny_classifier

NAME = "tiny-served"


def _register(classifier_seed: int = 0) -> tuple[str, str]:
    """Log a tiny model to the active store and register it as ``evaluate`` does, with every
    file's hash as a version tag; returns (version, the logged model's artifact folder)."""
    with mlflow.start_run() as run:
        logged = log_image_model(
            tiny_classifier(classifier_seed), class_image(0, np.random.default_rng(0))
        )
    client = MlflowClient()
    version = register_version(client, NAME, logged.info.model_uri, run.info.run_id,
                               logged_model_file_tags(logged.info.model_uri),
                               model_id=logged.info.model_id)  # fmt: skip
    artifacts = client.get_logged_model(logged.info.model_id).artifact_location
    return version, artifacts.removeprefix("file://")


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
        version, _ = _register()
        promote_if_better(MlflowClient(uri), NAME, version, "accuracy", 0.5)
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


@pytest.fixture(scope="module")
def served(registered):
    """`imgclf serve models:/<NAME>@champion`: MLflow's scoring server on the checked copy."""
    uri, root = registered
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    server = subprocess.Popen(
        [sys.executable, "-m", "imgclf.cli", "serve", f"models:/{NAME}@champion", "--host",
         "127.0.0.1", "--port", str(port)],
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
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _server_rss(server: subprocess.Popen) -> int:
    """Resident memory of the process tree serving requests (uvicorn under mlflow)."""
    tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    return sum(process.memory_info().rss for process in tree)


def test_served_champion_answers_http_post(served):
    base, _ = served
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


def _big_png(side: int) -> str:
    """Base64 of a real ``side`` x ``side`` PNG (flat grey: small file, huge image)."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("records", "limit"),
    [
        pytest.param(lambda: [{"image": _big_png(6000)}], "max_pixels", id="6000x6000-png"),
        pytest.param(lambda: [{"image": [[0] * 4_000_000]}], "max_pixels", id="1x4000000-array"),
        pytest.param(lambda: [{"image": [[0]]}] * 300, "max_rows", id="300-rows"),
    ],
)
def test_served_model_refuses_a_request_over_a_limit_with_400_and_keeps_serving(
    served, records, limit
):
    base, server = served
    body = json.dumps({"dataframe_records": records()})
    rss_before = _server_rss(server)
    started = time.perf_counter()
    refused = requests.post(
        f"{base}/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    seconds = time.perf_counter() - started
    grown = (_server_rss(server) - rss_before) / 2**20
    print(f"refused {limit} ({len(body) / 2**20:.1f} MB body): {seconds * 1000:.0f} ms, "
          f"server memory +{grown:.0f} MB")  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert limit in refused.json()["message"]
    fine = {"dataframe_records": [{"image": _images()[0].tolist()}]}
    assert requests.post(f"{base}/invocations", json=fine, timeout=30).status_code == 200


def _tamper(artifacts: str, name: str) -> Path:
    """Change one file of a logged model in the artifact store, as an attacker could."""
    path = Path(artifacts) / name
    text = path.read_text()
    if name.endswith(".py"):
        path.write_text(text + "\nopen('TAMPERED-CODE-RAN', 'w').close()\n")
    else:
        document = json.loads(text)
        document["limits"]["max_pixels"] = 10**12  # lift the pixel limit
        path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "changed", ["artifacts/model.json", "pyfunc_model.py", "code/imgclf/serving/bundle.py"]
)
def test_a_registered_model_changed_in_the_artifact_store_is_refused(
    registered, monkeypatch, tmp_path, capsys, changed
):
    uri, root = registered
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    version, artifacts = _register(classifier_seed=1)
    _tamper(artifacts, changed)
    image = tmp_path / "a.png"
    image.write_bytes(encode_png(_images()[0]))
    model = f"models:/{NAME}/{version}"
    capsys.readouterr()  # MLflow's own logging while the model was logged
    assert predict_main([str(image), "--model", model, "--params", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{changed} changed" in err and "refusing to load" in err
    served = subprocess.run(
        [sys.executable, "-m", "imgclf.cli", "serve", model, "--port", str(free_port())],
        cwd=root, env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 2 and f"{changed} changed" in served.stderr
    assert (
        not (root / "TAMPERED-CODE-RAN").exists() and not (tmp_path / "TAMPERED-CODE-RAN").exists()
    )
