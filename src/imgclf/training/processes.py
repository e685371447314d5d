"""Which process is this, when Lightning trains on several?

With ``strategy: ddp`` Lightning starts each further process by running the same command
again (torchrun and SLURM do the same on their side). Those extra processes must train
their shard and nothing else: MLflow runs, Optuna trials and output files belong to
the process of global rank 0. The rank is known from the environment before the
Trainer starts, which is when a stage has to decide.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from imgclf.config import TrainConfig


def launch_rank(train: TrainConfig) -> int:
    """This process's global rank as the launcher set it (0 when not distributed)."""
    if "RANK" in os.environ:  # torchrun, and Lightning once its processes are up
        return int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    per_node = train.devices if isinstance(train.devices, int) and train.devices > 0 else 1
    return node * per_node + local


def one_device_per_trial(train: TrainConfig, worker: int) -> TrainConfig:
    """``train`` confined to one device, for a hyperparameter trial.

    A trial trained by several processes would have each process ask Optuna for a trial
    of its own. Studies spread over devices instead: worker ``k`` of ``--workers`` takes
    GPU ``k`` (modulo the count), so a 4-GPU machine runs four trials at once.
    """
    gpus = torch.cuda.device_count() if train.accelerator in ("gpu", "cuda", "auto") else 0
    if gpus > 1:
        devices: int | list[int] = [worker % gpus]
    elif train.devices in (1, "1") and train.num_nodes == 1:
        return train
    else:
        devices = 1
    return train.model_copy(update={"devices": devices, "strategy": "auto", "num_nodes": 1})


def rendezvous_defaults(train: TrainConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment a single-node ``ddp`` run should add: its processes meet on loopback
    (``MASTER_ADDR=127.0.0.1``) unless the user chose an address. Several nodes need a
    routable one, which the launcher or the user sets."""
    if train.strategy.startswith("ddp") and train.num_nodes == 1 and "MASTER_ADDR" not in environ:
        return {"MASTER_ADDR": "127.0.0.1"}
    return {}
