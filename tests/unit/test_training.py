"""Training: optimizer/scheduler wiring, fit(), reproducibility, resumption, transfer."""

from __future__ import annotations

import multiprocessing
import warnings

import lightning.pytorch as L
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.tracking import MlflowClient

from imgclf.config import ModelConfig, Params, TrainConfig
from imgclf.data.datamodule import ImageDataModule
from imgclf.data.split_reader import LabelledImages
from imgclf.errors import ConfigError, StaleArtifactError
from imgclf.models.checkpoint import load_classifier, read_checkpoint, save_model_file
from imgclf.stages.tune import worker_threads
from imgclf.training.best_params import apply_best_params
from imgclf.training.callbacks import HISTORY_COLUMNS
from imgclf.training.fit import fit
from imgclf.training.hardware import available_cores, resolve_threads
from imgclf.training.optim import build_optimizer, build_scheduler
from imgclf.training.resume import mark_complete, resumable_checkpoint, start_fresh
from tests.unit.test_datamodule import CLASSES, STORE, flip_everything, make_splits

torch.set_num_threads(1)
warnings.filterwarnings("ignore", ".*does not have many workers.*")

MODEL = ModelConfig(name="cnn", width=8, depth=2, dropout=0.1)


def train_cfg(**values) -> TrainConfig:
    return TrainConfig(**{"max_epochs": 3, "patience": 10, "num_threads": 1, **values})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> ImageDataModule:
    root = tmp_path_factory.mktemp("images")
    train, val, test = make_splits(root)
    return ImageDataModule(
        train,
        val,
        CLASSES,
        augment=flip_everything(),
        batch_size=4,
        seed=1,
        test=test,
        store_dir=root / STORE,
    )


def quiet_fit(data: ImageDataModule, cfg: TrainConfig, **kwargs):
    return fit(kwargs.pop("model", MODEL), cfg, data, seed=7, enable_progress_bar=False, **kwargs)


class Killed(Exception):
    """Stands for the process dying (Lightning handles KeyboardInterrupt gracefully)."""


class StopAtEpoch(L.Callback):
    """Raises at the start of an epoch, as a kill between two epochs would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed


@pytest.mark.parametrize(
    ("name", "kind", "extra"),
    [("sgd", torch.optim.SGD, {"momentum": 0.8, "nesterov": True}), ("adam", torch.optim.Adam, {}),
     ("adamw", torch.optim.AdamW, {})],
)  # fmt: skip
def test_optimizer_is_built_with_the_configured_settings(name, kind, extra):
    cfg = train_cfg(optimizer=name, lr=0.05, weight_decay=0.01, **extra)
    optimizer = build_optimizer(build_network_params(), cfg)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, kind)
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)
    if name == "sgd":
        assert (group["momentum"], group["nesterov"]) == (0.8, True)
    else:  # the fused update: ATen's own sqrt, the same bits on any CPU (see test_numerics)
        assert group["fused"] is True


def build_network_params():
    return torch.nn.Linear(4, 2).parameters()


def test_optimizer_skips_frozen_parameters():
    layer = torch.nn.Linear(4, 2)
    layer.bias.requires_grad_(False)
    optimizer = build_optimizer(layer.parameters(), train_cfg())
    assert len(optimizer.param_groups[0]["params"]) == 1


@pytest.mark.parametrize(
    ("scheduler", "kind", "interval"),
    [("cosine", torch.optim.lr_scheduler.CosineAnnealingLR, "step"),
     ("onecycle", torch.optim.lr_scheduler.OneCycleLR, "step"),
     ("step", torch.optim.lr_scheduler.StepLR, "epoch")],
)  # fmt: skip
def test_scheduler_is_wired_with_its_lightning_interval(scheduler, kind, interval):
    cfg = train_cfg(scheduler=scheduler, step_size=2, gamma=0.5)
    optimizer = build_optimizer(build_network_params(), cfg)
    config = build_scheduler(optimizer, cfg, total_steps=10)
    assert isinstance(config["scheduler"], kind) and config["interval"] == interval


def test_no_scheduler_means_a_constant_learning_rate():
    cfg = train_cfg(scheduler="none")
    assert build_scheduler(build_optimizer(build_network_params(), cfg), cfg, 10) is None


def test_cosine_schedule_anneals_to_zero_over_all_training_steps(data):
    result = quiet_fit(data, train_cfg(max_epochs=2, scheduler="cosine"))
    scheduler = result.module.trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.T_max == result.module.trainer.global_step
    assert scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


def test_default_one_cycle_schedule_spans_all_training_steps(data):
    # Its warm-up and annealing fit in the run, however many epochs (a 6-epoch trial too).
    result = quiet_fit(data, train_cfg(max_epochs=2))
    scheduler = result.module.trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert scheduler.total_steps == result.module.trainer.global_step


def test_fit_reports_history_and_the_best_epoch(tmp_path, data):
    result = quiet_fit(data, train_cfg(), checkpoint_dir=tmp_path)
    assert list(result.history.columns) == HISTORY_COLUMNS
    assert result.history["epoch"].tolist() == [1, 2, 3]
    assert not result.history.isna().any().any()
    best = result.history.loc[result.history["val_loss"].idxmin()]
    assert (result.best_val_loss, result.best_val_acc) == (best["val_loss"], best["val_acc"])
    assert result.best_checkpoint == tmp_path / "best.ckpt" and (tmp_path / "last.ckpt").is_file()
    assert result.resumed_from is None


def test_last_checkpoint_is_the_last_epoch_even_when_it_did_not_improve(tmp_path, data):
    # Lightning 2.6's save_last=True wrote last.ckpt only in epochs that improved, so a
    # killed run resumed from its best epoch and trained the epochs after it again.
    cfg = train_cfg(lr=1.0, scheduler="none", max_epochs=4)  # too fast: the last epoch is worse
    result = quiet_fit(data, cfg, checkpoint_dir=tmp_path)
    losses = result.history["val_loss"].tolist()
    best_epoch = losses.index(min(losses))
    assert best_epoch < len(losses) - 1  # this run's last epoch is not its best
    assert read_checkpoint(tmp_path / "last.ckpt")["epoch"] == len(losses) - 1
    assert read_checkpoint(tmp_path / "best.ckpt")["epoch"] == best_epoch


def test_best_checkpoint_loads_weights_only_and_predicts_like_the_module(tmp_path, data):
    result = quiet_fit(
        data, train_cfg(optimizer="sgd", scheduler="onecycle"), checkpoint_dir=tmp_path
    )
    read_checkpoint(tmp_path / "last.ckpt")  # resumable without unpickling objects too
    loaded = load_classifier(result.best_checkpoint)
    images = data.tensors(next(iter(data.val_dataloader())))[0]
    result.module.eval()
    assert loaded.spec.class_names == tuple(CLASSES) and loaded.spec.mean == data.mean
    assert torch.equal(loaded.net(images), result.module(images))


def test_model_file_is_the_same_bytes_whichever_folder_trained_it(tmp_path, data):
    models = []
    for clone in ("clone-a", "elsewhere/clone-b"):
        folder = tmp_path / clone
        result = quiet_fit(data, train_cfg(max_epochs=2), checkpoint_dir=folder / "checkpoints")
        assert str(folder).encode() in result.best_checkpoint.read_bytes()  # Lightning's paths
        save_model_file(read_checkpoint(result.best_checkpoint), folder / "model.ckpt")
        models.append(folder / "model.ckpt")
    first, second = (path.read_bytes() for path in models)
    assert first == second
    assert str(tmp_path).encode() not in first
    loaded = load_classifier(models[0])
    assert loaded.spec.class_names == tuple(CLASSES)


def test_same_params_and_seed_give_identical_metrics(data):
    first, second = (quiet_fit(data, train_cfg(max_epochs=2)) for _ in range(2))
    pd.testing.assert_frame_equal(first.history, second.history, check_exact=True)


@pytest.mark.parametrize(("scheduler", "workers"), [("cosine", 0), ("step", 0), ("cosine", 1)])
def test_run_resumed_at_an_epoch_boundary_matches_an_uninterrupted_run(
    tmp_path, data, scheduler, workers
):
    """With a dataloader worker too: Lightning creates the resumed run's first iterator
    before it sets the sampler's epoch, and the worker prefetches from it at once, so the
    first resumed epoch replayed epoch 0's batches until the module kept its epoch."""
    if workers:
        train = LabelledImages(data.train_images, data.train_labels)
        val = LabelledImages(data.val_images, data.val_labels)
        data = ImageDataModule(
            train, val, CLASSES, augment=data.augment, batch_size=4, num_workers=workers, seed=1
        )
    cfg = train_cfg(scheduler=scheduler, step_size=1, gamma=0.5)
    whole = quiet_fit(data, cfg, checkpoint_dir=tmp_path / "whole")
    with pytest.raises(Killed):
        quiet_fit(data, cfg, checkpoint_dir=tmp_path / "cut", callbacks=[StopAtEpoch(1)])
    last = tmp_path / "cut" / "last.ckpt"
    resumed = quiet_fit(data, cfg, checkpoint_dir=tmp_path / "cut", resume_from=last)
    assert resumed.resumed_from == last
    pd.testing.assert_frame_equal(whole.history, resumed.history, check_exact=True)
    for key, value in whole.module.state_dict().items():
        assert torch.equal(value, resumed.module.state_dict()[key]), key


def test_a_fit_that_raises_leaves_no_dataloader_worker_behind(data):
    # A pruned trial ends its fit with an exception, and Lightning then skips the data
    # module's teardown; a study must not collect one idle worker per pruned trial.
    train = LabelledImages(data.train_images, data.train_labels)
    val = LabelledImages(data.val_images, data.val_labels)
    with_worker = ImageDataModule(
        train, val, CLASSES, augment=data.augment, batch_size=4, num_workers=1, seed=1
    )
    before = set(multiprocessing.active_children())
    with pytest.raises(Killed):
        quiet_fit(with_worker, train_cfg(), callbacks=[StopAtEpoch(1)])
    assert not set(multiprocessing.active_children()) - before


def test_freeze_backbone_trains_only_the_head(tmp_path, data):
    source = quiet_fit(data, train_cfg(max_epochs=1), checkpoint_dir=tmp_path / "source")
    model = MODEL.model_copy(
        update={"init_from": str(source.best_checkpoint), "freeze_backbone": True}
    )
    tuned = quiet_fit(data, train_cfg(max_epochs=2, lr=0.05), model=model)
    before, after = source.module.net.state_dict(), tuned.module.net.state_dict()
    for key in before:
        assert torch.equal(before[key], after[key]) != key.startswith("head."), key


def test_checkpoint_folder_resumes_only_an_unfinished_run_with_the_same_fingerprint(tmp_path):
    start_fresh(tmp_path, "abc")
    assert resumable_checkpoint(tmp_path, "abc") is None  # no last.ckpt yet
    (tmp_path / "last.ckpt").write_bytes(b"")
    assert resumable_checkpoint(tmp_path, "abc") == tmp_path / "last.ckpt"
    assert resumable_checkpoint(tmp_path, "other params") is None
    mark_complete(tmp_path, "abc")
    assert resumable_checkpoint(tmp_path, "abc") is None
    start_fresh(tmp_path, "def")
    assert not (tmp_path / "last.ckpt").exists()


def test_best_params_override_params_and_are_checked(tmp_path):
    best = tmp_path / "best_params.yaml"
    best.write_text("train.lr: 0.004\nmodel.width: 48\n")
    params = apply_best_params(Params(), best)
    assert (params.train.lr, params.model.width) == (0.004, 48)
    best.write_text("train.lr: -1\n")
    with pytest.raises(ConfigError, match="train.lr"):
        apply_best_params(Params(), best)
    with pytest.raises(StaleArtifactError, match="dvc repro tune"):
        apply_best_params(Params(), tmp_path / "missing.yaml")


def test_train_stage_names_a_missing_input_and_exits_2(tmp_path, capsys):
    from pipelines.train import main

    (tmp_path / "params.yaml").write_text("seed: 1\n")
    args = [
        "--params",
        str(tmp_path / "params.yaml"),
        "--splits",
        str(tmp_path / "splits"),
        "--images",
        str(tmp_path / "images"),
        "--classes",
        "c.json",
        "--augment",
        "a.json",
        "--best-params",
        str(tmp_path / "best.yaml"),
        "--checkpoints",
        "ck",
        "--model",
        "m.ckpt",
        "--onnx",
        "m.onnx",
        "--history",
        "h.csv",
    ]
    assert main(args) == 2
    assert "best.yaml: not found; run `dvc repro tune` first" in capsys.readouterr().err


def test_timm_model_trains_and_reloads_from_its_checkpoint(tmp_path):
    train, val, _ = make_splits(tmp_path, channels=3, size=16)
    data = ImageDataModule(
        train, val, CLASSES, augment=None, batch_size=8, store_dir=tmp_path / STORE
    )
    model = ModelConfig(name="timm:test_resnet", init="default")
    result = quiet_fit(data, train_cfg(max_epochs=1), model=model, checkpoint_dir=tmp_path / "ck")
    loaded = load_classifier(result.best_checkpoint)
    images = data.tensors(next(iter(data.val_dataloader())))[0]
    result.module.eval()
    assert torch.allclose(loaded.net(images), result.module(images))


def test_launch_rank_reads_what_the_launchers_set(monkeypatch):
    from imgclf.training.processes import launch_rank

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"):
        monkeypatch.delenv(name, raising=False)
    two_per_node = TrainConfig(devices=2)
    assert launch_rank(two_per_node) == 0
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launch_rank(two_per_node) == 1
    monkeypatch.setenv("NODE_RANK", "1")
    assert launch_rank(two_per_node) == 3
    monkeypatch.setenv("RANK", "5")
    assert launch_rank(two_per_node) == 5


def test_a_trial_trains_on_one_device_whatever_the_train_stage_uses():
    from imgclf.training.processes import one_device_per_trial

    single = TrainConfig()
    assert one_device_per_trial(single, worker=3) is single
    ddp = TrainConfig(accelerator="cpu", devices=2, strategy="ddp", num_nodes=2)
    confined = one_device_per_trial(ddp, worker=1)
    assert (confined.devices, confined.strategy, confined.num_nodes) == (1, "auto", 1)
    assert (confined.lr, confined.batch_size) == (ddp.lr, ddp.batch_size)


def test_study_workers_spread_over_the_visible_gpus(monkeypatch):
    from imgclf.training.processes import one_device_per_trial

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    gpu = TrainConfig(accelerator="gpu", devices=1)
    assert [one_device_per_trial(gpu, worker).devices for worker in range(6)] == [
        [0], [1], [2], [3], [0], [1]
    ]  # fmt: skip
    assert one_device_per_trial(TrainConfig(accelerator="cpu"), worker=2).devices == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_without_one_is_one_line_naming_the_keys(tmp_path):
    from imgclf.training.trainer import build_trainer

    with pytest.raises(ConfigError, match=r"train.accelerator = gpu, devices = 1, .* gpu"):
        build_trainer(TrainConfig(accelerator="gpu"), seed=0, checkpoint_dir=tmp_path)


def test_each_epochs_figures_reach_mlflow_once_at_one_step_matching_the_history(tmp_path, data):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MLFlowLogger(experiment_name="fit", tracking_uri=uri, synchronous=True)
    result = quiet_fit(data, train_cfg(), logger=logger)
    logger.finalize("success")
    client = MlflowClient(uri)
    steps = set()
    for name in HISTORY_COLUMNS[1:]:
        points = sorted(client.get_metric_history(logger.run_id, name), key=lambda m: m.step)
        # One point per epoch, as the history has it: a chart of train_loss against val_loss
        # in the MLflow UI lines up epoch by epoch.
        assert [m.value for m in points] == pytest.approx(result.history[name].tolist())
        steps.add(tuple(m.step for m in points))
    assert len(steps) == 1 and len(set(next(iter(steps)))) == 3


@pytest.mark.parametrize(
    ("num_threads", "size", "expected"),
    [("auto", 8, 1), ("auto", 15, 1), ("auto", 16, "cores"), ("auto", 64, "cores"),
     (0, 8, "cores"), (3, 64, 3)],
)  # fmt: skip
def test_num_threads_auto_gives_tiny_images_one_thread_and_larger_ones_every_core(
    num_threads: int | str, size: int, expected: int | str
) -> None:
    cores = available_cores()
    assert resolve_threads(num_threads, size) == (cores if expected == "cores" else expected)


def test_study_workers_share_the_cores_that_auto_gives_a_photo() -> None:
    train = TrainConfig(num_threads="auto")
    cores = available_cores()
    assert worker_threads(train, workers=1, image_size=64) == cores
    assert worker_threads(train, workers=cores, image_size=64) == 1
    assert worker_threads(train, workers=1, image_size=8) == 1
