"""Training on several processes goes through Lightning's own ``ddp`` strategy
(``train.accelerator: cpu``, ``train.devices: 2``, ``train.strategy: ddp``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from tests.integration.test_train_resume import finish, stage_inputs, train_stage
from tests.unit.test_datamodule import STORE, make_splits

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_ddp_processes_train_disjoint_shards_into_one_checkpoint(tmp_path):
    train, val, _test = make_splits(tmp_path, per_class=20)
    train.to_csv(tmp_path / "train.csv", index=False)
    val.to_csv(tmp_path / "val.csv", index=False)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}

    done = subprocess.run(
        [sys.executable, "-m", "tests.support.ddp_fit", str(tmp_path), str(tmp_path / STORE)],
        cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    results = [json.loads((tmp_path / f"result-rank{r}.json").read_text()) for r in (0, 1)]
    assert [result["world_size"] for result in results] == [2, 2]
    assert [result["epochs"] for result in results] == [2, 2]
    assert results[0]["best_val_acc"] == results[1]["best_val_acc"]  # metrics synced
    for epoch in (0, 1):
        rank0, rank1 = (
            json.loads((tmp_path / f"shard-rank{r}-epoch{epoch}.json").read_text()) for r in (0, 1)
        )
        assert not set(rank0) & set(rank1)
        assert sorted(rank0 + rank1) == list(range(len(train)))
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["best.ckpt", "last.ckpt"]


@pytest.mark.slow
def test_train_stage_on_two_ddp_processes_logs_one_mlflow_run(tmp_path):
    stage_inputs(tmp_path)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["train"].update(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    finish(train_stage(tmp_path))

    assert (tmp_path / "model.ckpt").is_file()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 1
