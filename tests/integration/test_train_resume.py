"""The train stage killed with SIGKILL resumes from its last checkpoint and ends exactly
where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from imgclf.augment import build_augmentation, save_augmentation
from imgclf.config import Params, TransformSpec, with_overrides
from tests.unit.test_datamodule import CLASSES, STORE, make_splits

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 25


def stage_inputs(root: Path) -> None:
    """Everything the train stage reads, tiny, in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(("train", "val", "test"), make_splits(root, per_class=30), strict=True):
        (root / "splits").mkdir(exist_ok=True)
        frame.to_csv(root / "splits" / f"{name}.csv", index=False)
    (root / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    spec = TransformSpec(name="Affine", args={"rotate": [-10, 10], "p": 0.5})
    save_augmentation(build_augmentation([spec], seed=0), root / "augment.json")
    (root / "best_params.yaml").write_text("train.lr: 0.01\n")
    params = with_overrides(
        Params(),
        {"model.width": 8, "train.max_epochs": EPOCHS, "train.patience": 100, "train.batch_size": 8,
         "train.num_threads": 1},
    )  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))


def train_stage(root: Path) -> subprocess.Popen[str]:
    args = [
        "--splits",
        "splits",
        "--images",
        STORE,
        "--classes",
        "classes.json",
        "--augment",
        "augment.json",
        "--best-params",
        "best_params.yaml",
        "--checkpoints",
        "checkpoints",
        "--model",
        "model.ckpt",
        "--onnx",
        "model.onnx",
        "--history",
        "history.csv",
    ]
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "CI": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.train", *args], cwd=root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


@pytest.mark.slow
def test_killed_training_resumes_from_last_checkpoint(tmp_path):
    stage_inputs(tmp_path / "killed")
    shutil.copytree(tmp_path / "killed", tmp_path / "whole")
    uninterrupted = train_stage(tmp_path / "whole")

    killed = train_stage(tmp_path / "killed")
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    done = torch.load(last, weights_only=True)["epoch"] + 1
    assert done < EPOCHS
    assert not (tmp_path / "killed" / "model.ckpt").exists()

    output = finish(train_stage(tmp_path / "killed"))
    assert "resuming from checkpoints/last.ckpt" in output
    finish(uninterrupted)

    resumed = pd.read_csv(tmp_path / "killed" / "history.csv")
    whole = pd.read_csv(tmp_path / "whole" / "history.csv")
    assert resumed["epoch"].tolist() == list(range(1, EPOCHS + 1))
    pd.testing.assert_frame_equal(resumed, whole, check_exact=True)
    assert (tmp_path / "killed" / "model.onnx").stat().st_size > 0


def test_a_tuned_transform_argument_reaches_training(tmp_path):
    stage_inputs(tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"]["max_epochs"] = 1
    params["augment"]["transforms"] = [{"name": "Affine", "args": {"rotate": [-10, 10], "p": 0.5}}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "best_params.yaml").write_text("augment.transforms.Affine.args.p: 0.125\n")

    output = finish(train_stage(tmp_path))

    assert "augmentation: the tuned policy from best_params.yaml" in output
    assert "'p': 0.125" in output
    assert (tmp_path / "model.ckpt").is_file()


@pytest.mark.slow
def test_changed_params_start_fresh_instead_of_resuming(tmp_path):
    stage_inputs(tmp_path)
    finish(train_stage(tmp_path))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"]["max_epochs"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    output = finish(train_stage(tmp_path))
    assert "resuming" not in output
    assert len(pd.read_csv(tmp_path / "history.csv")) == 2
