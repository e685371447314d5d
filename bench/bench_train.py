"""The train stage's training (imgclf's ``fit``) against a plain PyTorch loop, side by side.

Lightning side, as the train stage runs it: :func:`imgclf.training.fit.fit` with an
``MLFlowLogger`` (a local SQLite MLflow store in a temp dir), best/last checkpoints written
every epoch (temp dir), and the augmentation of ``augment.transforms`` built, saved to
``augment.json`` and loaded back as the augment and train stages do
(``build_augmentation`` -> ``save_augmentation`` -> ``load_augmentation``). The MLflow run
is created before the clock starts, as the stage's ``tracked_run`` creates it before fit.

Plain side, written here: the same network (``initial_network``), optimizer and schedule
builders, the data module's own train/val loaders and batch hooks (``tensors``), the same
epochs, batch size, seed, threads (``train.num_threads``) and precision
(``train.precision``, ``auto`` resolved by ``resolve_precision``, run under the matching
``torch.autocast``). Both validate once per epoch; early stopping is off (patience >
epochs). Each side gets its own data module over the same arrays, and each clock runs
from before threads, seeding and the network are set up until the train loader's worker
has stopped. Prints the CPU, both sides' wall time, s/epoch, training images/s and final
validation accuracy, the plain loop's share of training time spent waiting for data, and
the ratio (with ``--repeats N``, each side's fastest of N alternating runs: on a busy
machine, oversubscribed threads can slow either side several-fold). Use at least 2: the
first ``fit()`` of a process also pays one-off imports, 0.2 to 0.75 s (Lightning's check
whether the checkpoint folder is in a bucket imports ``s3fs``), which a stage pays once.

    .venv/bin/python bench/bench_train.py                          # the digits, made in a temp dir
    .venv/bin/python bench/bench_train.py --data fashion-mnist     # the profile, minutes
    .venv/bin/python bench/bench_train.py --data fashion-mnist --train-images 4000 --epochs 2
    .venv/bin/python bench/bench_train.py --set train.precision=auto --set model.width=16

Fashion-MNIST reads the official training set from ``--idx-dir`` (Debian's
``dataset-fashion-mnist``) and holds out a stratified val slice in the split stage's
``split.train : split.val`` proportion; the params are ``--params`` with
``profiles/fashion-mnist.yaml`` (dotted keys) applied on top when it exists, then any ``--set``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import mlflow  # noqa: F401  (it sets up its loggers on import; main quietens them after)
import torch
import torch.nn.functional as F
import yaml
from bench_data import digits_splits, fashion_mnist_splits
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.loggers import MLFlowLogger

from imgclf.augment import build_augmentation, load_augmentation, save_augmentation
from imgclf.config import Params, load_params, with_overrides
from imgclf.data.datamodule import EpochShuffleSampler, ImageDataModule, load_datamodule
from imgclf.data.sources import DEBIAN_FASHION_MNIST
from imgclf.errors import UserError
from imgclf.profiles import read_profile
from imgclf.tracking import cpu_description
from imgclf.training.callbacks import epoch_seed
from imgclf.training.fit import fit, spec_for
from imgclf.training.hardware import resolve_precision, resolve_threads, uses_gpu
from imgclf.training.network import initial_network
from imgclf.training.optim import build_optimizer, build_scheduler

FASHION_PROFILE = Path("profiles/fashion-mnist.yaml")
AUTOCAST_DTYPES = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}

DataFactory = Callable[[int], ImageDataModule]  # batch size -> a fresh data module


@dataclass(frozen=True)
class PlainRun:
    seconds: float
    val_acc: float
    train_s: float  # the training phase of every epoch (no validation)
    data_wait_s: float  # of which blocked in next(loader iterator)


def plain_loop(params: Params, data: ImageDataModule, epochs: int, precision: str) -> PlainRun:
    """The same training written by hand, timed from the same point as ``fit()``: before
    threads, seeding, the network and the loaders (whose worker starts with them)."""
    start = time.perf_counter()
    train_cfg = params.train
    torch.set_num_threads(resolve_threads(train_cfg.num_threads, data.image_size))  # as fit does
    seed_everything(params.seed, workers=True, verbose=False)
    device = torch.device("cuda" if uses_gpu(train_cfg.accelerator) else "cpu")
    # The trainer asks Lightning for deterministic kernels on the CPU; so does this loop.
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=device.type != "cpu")
    dtype = AUTOCAST_DTYPES.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    net = initial_network(spec_for(params.model, data), params.model).to(device)
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    optimizer = build_optimizer(net.parameters(), train_cfg)
    schedule = build_scheduler(optimizer, train_cfg, total_steps=epochs * len(train_loader))
    train_s = data_wait_s = 0.0
    for epoch in range(epochs):
        sampler = train_loader.sampler
        assert isinstance(sampler, EpochShuffleSampler)  # the data module's, as fit() uses it
        sampler.set_epoch(epoch)
        seed_everything(epoch_seed(params.seed, epoch), workers=True, verbose=False)  # as fit does
        net.train()
        epoch_start = time.perf_counter()
        batches = iter(train_loader)
        while True:
            wait_start = time.perf_counter()
            batch = next(batches, None)
            data_wait_s += time.perf_counter() - wait_start
            if batch is None:
                break
            images, labels = data.tensors(batch, device)  # Lightning's transfer hooks
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = net(images)
            loss = F.cross_entropy(
                logits.float(), labels, label_smoothing=train_cfg.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if train_cfg.gradient_clip_val:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), train_cfg.gradient_clip_val)
            scaler.step(optimizer)
            scaler.update()
            if schedule is not None and schedule["interval"] == "step":
                schedule["scheduler"].step()
        train_s += time.perf_counter() - epoch_start
        if schedule is not None and schedule["interval"] == "epoch":
            schedule["scheduler"].step()
        val_acc = validate(net, data, val_loader, device, dtype)
    if device.type == "cuda":
        torch.cuda.synchronize()
    data.close_train_batches()  # stops the worker, as fit() does when it returns
    return PlainRun(time.perf_counter() - start, val_acc, train_s, data_wait_s)


def validate(
    net: torch.nn.Module, data: ImageDataModule, loader: Any, device: torch.device, dtype: Any
) -> float:
    """Validation accuracy; the loss is computed too (unused), as the LightningModule's
    validation step computes it for early stopping, so both sides do the same work."""
    net.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    loss = torch.zeros((), device=device)
    with torch.no_grad():
        for batch in loader:
            images, labels = data.tensors(batch, device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = net(images)
            loss += F.cross_entropy(logits.float(), labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
    return int(correct) / len(loader.dataset)


def lightning_fit(
    params: Params, data: ImageDataModule, folder: Path, repeat: int
) -> tuple[float, float]:
    """The train stage's fit, logging to MLflow and checkpointing; (seconds, final val acc)."""
    logger = MLFlowLogger(
        experiment_name="bench-train",
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_location=str(folder / "mlartifacts"),
        synchronous=True,  # as the train stage logs
    )
    _ = logger.run_id  # creates the store and the run now, outside the timed fit
    start = time.perf_counter()
    result = fit(
        params.model,
        params.train,
        data,
        seed=params.seed,
        logger=logger,
        checkpoint_dir=folder / f"checkpoints-{repeat}",
        enable_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    logger.finalize("success")
    return seconds, float(result.history["val_acc"].iloc[-1])


def bench_params(args: argparse.Namespace) -> Params:
    """``--params``, the Fashion-MNIST profile on top (when there is one), then ``--set``."""
    params = load_params(args.params)
    overrides: dict[str, Any] = {}
    profile = Path(args.profile) if args.profile else None
    if profile is None and args.data == "fashion-mnist":
        profile = FASHION_PROFILE
        if not profile.is_file():
            print(f"note: {profile} not found: {args.params} with --set overrides only")
            profile = None
    if profile is not None:
        overrides |= read_profile(profile)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected key=value, e.g. train.lr=0.01")
        overrides[key] = yaml.safe_load(value)
    epochs = args.epochs or (10 if args.data == "digits" else None)  # else train.max_epochs
    shorthands = {"train.accelerator": args.accelerator, "train.precision": args.precision,
                  "train.batch_size": args.batch_size, "train.max_epochs": epochs}  # fmt: skip
    overrides |= {key: value for key, value in shorthands.items() if value is not None}
    params = with_overrides(params, overrides)
    # Early stopping off: both sides train every epoch.
    return with_overrides(params, {"train.patience": params.train.max_epochs + 1})


def data_factory(args: argparse.Namespace, params: Params, folder: Path) -> DataFactory:
    """Fresh data modules of the chosen data, augmented by the saved ``augment.json``."""
    augment_path = folder / "augment.json"
    save_augmentation(build_augmentation(params.augment.transforms, seed=params.seed), augment_path)
    train_cfg = params.train
    if args.data == "digits":
        splits, store, classes = digits_splits(folder / "digits")
        return lambda batch_size: load_datamodule(
            splits, store, classes, augment_path, batch_size=batch_size,
            num_workers=train_cfg.num_workers, seed=params.seed,
        )  # fmt: skip
    if not Path(args.idx_dir).is_dir():
        raise SystemExit(f"{args.idx_dir}: no such folder; apt-get install dataset-fashion-mnist")
    # The split stage's train : val proportion (the official test set is not used here).
    val_share = params.split.val / (params.split.train + params.split.val)
    train, val, names = fashion_mnist_splits(
        Path(args.idx_dir), val_share, args.train_images, params.seed
    )
    return lambda batch_size: ImageDataModule(
        train, val, names, augment=load_augmentation(augment_path, params.seed),
        batch_size=batch_size, num_workers=train_cfg.num_workers, seed=params.seed,
    )  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=["digits", "fashion-mnist"], default="digits")
    parser.add_argument("--idx-dir", default=DEBIAN_FASHION_MNIST, help="Fashion-MNIST IDX files")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help=f"dotted overrides (fashion-mnist: {FASHION_PROFILE})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a dotted override, value parsed as YAML (repeatable)")  # fmt: skip
    parser.add_argument("--epochs", type=int, help="default: 10 (digits), train.max_epochs")
    parser.add_argument("--train-images", type=int, help="Fashion-MNIST: a stratified subset")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs; fastest counts")
    parser.add_argument("--accelerator", help="shorthand for --set train.accelerator=...")
    parser.add_argument("--precision", choices=["32", "16-mixed", "bf16-mixed", "auto"],
                        help="shorthand for --set train.precision=...")  # fmt: skip
    parser.add_argument("--batch-size", type=int, help="shorthand for --set train.batch_size=...")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    for chatty in ("lightning.pytorch", "lightning.fabric", "mlflow"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    try:
        params = bench_params(args)
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    train_cfg, epochs = params.train, params.train.max_epochs
    precision = resolve_precision(train_cfg.precision, train_cfg.accelerator)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        make_data = data_factory(args, params, Path(scratch))
        plain_runs, lightning_runs = [], []
        for repeat in range(args.repeats):  # alternating, so a busy spell hits both sides
            plain_runs.append(
                plain_loop(params, make_data(train_cfg.batch_size), epochs, precision)
            )
            data = make_data(train_cfg.batch_size)
            lightning_runs.append(lightning_fit(params, data, Path(scratch), repeat))
    plain = min(plain_runs, key=lambda run: run.seconds)
    lightning_s, lightning_acc = min(lightning_runs)
    report(args.data, params, precision, data, plain, lightning_s, lightning_acc)


def report(
    name: str,
    params: Params,
    precision: str,
    data: ImageDataModule,
    plain: PlainRun,
    lightning_s: float,
    lightning_acc: float,
) -> None:
    """The set-up, the data wait, both sides' figures and the ratio."""
    model, train_cfg, epochs = params.model, params.train, params.train.max_epochs
    print(f"{name}: model {model.name} width {model.width} depth {model.depth}, "
          f"{len(data.train_labels)} train / {len(data.val_labels)} val images "
          f"{data.image_size}px, batch {train_cfg.batch_size}, {epochs} epochs")  # fmt: skip
    print(
        f"CPU {cpu_description()}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(f"accelerator {train_cfg.accelerator} ({device_name(train_cfg.accelerator)}), "
          f"precision {train_cfg.precision} -> {precision}, {torch.get_num_threads()} thread(s), "
          f"torch {torch.__version__}, lightning {lightning.__version__}")  # fmt: skip
    print(f"data wait: {100 * plain.data_wait_s / plain.train_s:.1f}% of training time "
          f"(plain loop, {plain.data_wait_s:.2f} of {plain.train_s:.2f} s)")  # fmt: skip
    images = len(data.train_labels) * epochs
    print(f"{'':<22}{'wall s':>8}{'s/epoch':>9}{'images/s':>10}{'val acc':>9}")
    for side, seconds, accuracy in (
        ("plain PyTorch loop", plain.seconds, plain.val_acc),
        ("Lightning fit()", lightning_s, lightning_acc),
    ):
        print(f"{side:<22}{seconds:>8.2f}{seconds / epochs:>9.3f}"
              f"{images / seconds:>10.0f}{accuracy:>9.4f}")  # fmt: skip
    print(f"Lightning / plain wall time: {lightning_s / plain.seconds:.2f}x")


def device_name(accelerator: str) -> str:
    if uses_gpu(accelerator) and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "CPU"


if __name__ == "__main__":
    main()
