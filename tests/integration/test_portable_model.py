"""The logged model carries imgclf's code and pinned requirements: a Python process that
cannot import the project's source tree loads it and predicts what the project does."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from imgclf.serving.mlflow_model import SERVING_DISTRIBUTIONS, encode_image_file, log_image_model
from imgclf.serving.model_files import hashes_from_tags, logged_model_file_tags
from tests.support.tiny_classifier import class_image, tiny_classifier

pytestmark = pytest.mark.slow  # logs a model and starts a second Python with torch and mlflow

# Run with `python -I` (no PYTHONPATH, no cwd on sys.path): the script then drops every
# sys.path entry that holds an `imgclf` package (the editable install's .pth adds the
# project's src/) and any editable-install finder, proves `imgclf` is unimportable, and
# only then loads the model, whose own code folder MLflow puts on sys.path.
OUTSIDE_THE_PROJECT = """
import importlib.util, json, os, sys
sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "imgclf"))]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
if importlib.util.find_spec("imgclf") is not None:
    raise SystemExit("imgclf is still importable: " + importlib.util.find_spec("imgclf").origin)
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
result = model.predict(pd.DataFrame({"image": json.loads(sys.argv[2])}))
print(json.dumps({"imgclf": sys.modules["imgclf"].__file__,
                  "predictions": result.to_dict(orient="list")}))
"""


@pytest.fixture(scope="module")
def logged_uri(tmp_path_factory) -> str:
    """A tiny model logged as the evaluate stage logs it, to a fresh SQLite store."""
    root = tmp_path_factory.mktemp("portable")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment("portable-test")
    with mlflow.start_run():
        logged = log_image_model(tiny_classifier(), class_image(0, np.random.default_rng(0)))
    return logged.info.model_uri


@pytest.fixture
def model_folder(logged_uri, tmp_path) -> Path:
    """The logged model downloaded to a plain folder, as `imgclf serve` does."""
    return Path(mlflow.artifacts.download_artifacts(logged_uri, dst_path=str(tmp_path / "model")))


def _batch() -> list:
    rng = np.random.default_rng(5)
    images = [class_image(label, rng) for label in (0, 1, 2, 2)]
    return [encode_image_file(images[0]), images[1].tolist(), *map(encode_image_file, images[2:])]


def test_model_loads_and_predicts_where_imgclf_cannot_be_imported(model_folder, tmp_path):
    batch = _batch()
    child = subprocess.run(
        [sys.executable, "-I", "-c", OUTSIDE_THE_PROJECT, str(model_folder), json.dumps(batch)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    outside = json.loads(child.stdout.strip().splitlines()[-1])
    assert Path(outside["imgclf"]).is_relative_to(model_folder / "code")

    inside = mlflow.pyfunc.load_model(str(model_folder)).predict(pd.DataFrame({"image": batch}))
    assert outside["predictions"] == inside.to_dict(orient="list")


def test_requirements_are_pinned_to_the_installed_versions(model_folder):
    lines = (model_folder / "requirements.txt").read_text(encoding="utf-8").split()
    assert lines == [f"{name}=={version(name).partition('+')[0]}" for name in SERVING_DISTRIBUTIONS]


def test_the_carried_code_is_covered_by_the_registered_file_hashes(logged_uri):
    hashes = hashes_from_tags(logged_model_file_tags(logged_uri))  # what evaluate registers
    assert {"code/imgclf/serving/pyfunc_model.py", "code/imgclf/serving/bundle.py"} <= set(hashes)
    assert not any("__pycache__" in name for name in hashes)
