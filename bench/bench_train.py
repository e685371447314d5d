"""Lightning training (imgclf's ``fit``) against a plain PyTorch loop, side by side.

Same network (built from the same spec and seed), same data loaders over the same
in-memory tensors, same epochs, batch size, optimizer and per-step cosine schedule, one
validation pass per epoch in both; early stopping is off (patience > epochs). Prints both
wall times, seconds per epoch, training images per second, final validation accuracy, and
the ratio. ``--accelerator``/``--precision`` set ``train.accelerator``/``train.precision``
for Lightning; the plain loop runs on the same device under the matching ``torch.autocast``
(with a gradient scaler for 16-mixed), as Lightning's mixed precision does.

    .venv/bin/python bench/bench_train.py                      # the digits, made in a temp dir
    .venv/bin/python bench/bench_train.py --splits data/splits --classes data/classes.json
    python bench/bench_train.py --accelerator gpu --precision bf16-mixed
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import lightning
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.seed import seed_everything
from PIL import Image

from imgclf.augment import build_augmentation
from imgclf.config import load_params, with_overrides
from imgclf.data.datamodule import ImageDataModule, load_datamodule
from imgclf.models import build_network
from imgclf.models.weight_init import init_weights
from imgclf.training.callbacks import epoch_seed
from imgclf.training.fit import fit, spec_for
from imgclf.training.optim import build_optimizer, build_scheduler


def digits_splits(root: Path) -> tuple[Path, Path]:
    """scikit-learn's digits as PNGs + stratified 80/10/10 split CSVs, like ingest + split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    rows = []
    for index, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        path = root / "images" / str(label) / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(path)
        rows.append({"path": str(path), "label": str(label), "sha256": str(index)})
    frame = pd.DataFrame(rows)
    train, rest = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=42)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=42)
    (root / "splits").mkdir()
    for name, part in (("train", train), ("val", val), ("test", test)):
        part.to_csv(root / "splits" / f"{name}.csv", index=False)
    (root / "classes.json").write_text(json.dumps({"classes": [str(i) for i in range(10)]}))
    return root / "splits", root / "classes.json"


AUTOCAST_DTYPES = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}


def plain_loop(params, data: ImageDataModule, epochs: int) -> tuple[float, float]:
    """The same training written by hand; returns (seconds, final val accuracy)."""
    seed_everything(params.seed, workers=True, verbose=False)
    device = torch.device("cpu" if params.train.accelerator == "cpu" else "cuda")
    dtype = AUTOCAST_DTYPES.get(params.train.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    net = build_network(spec_for(params.model, data))
    init_weights(net, params.model.init)
    net.to(device)
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    optimizer = build_optimizer(net.parameters(), params.train)
    schedule = build_scheduler(optimizer, params.train, total_steps=epochs * len(train_loader))
    start = time.perf_counter()
    for epoch in range(epochs):
        train_loader.sampler.set_epoch(epoch)
        seed_everything(epoch_seed(params.seed, epoch), workers=True, verbose=False)  # as fit does
        net.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = net(images)
            loss = F.cross_entropy(
                logits.float(), labels, label_smoothing=params.train.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if schedule is not None and schedule["interval"] == "step":
                schedule["scheduler"].step()
        if schedule is not None and schedule["interval"] == "epoch":
            schedule["scheduler"].step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in val_loader:
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    logits = net(images.to(device))
                correct += int((logits.argmax(1).cpu() == labels).sum())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, correct / len(data.val_labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--splits", help="split folder (default: the digits, made in a temp dir)")
    parser.add_argument("--classes", help="classes.json (with --splits)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--accelerator", help="train.accelerator (default: params.yaml's)")
    parser.add_argument(
        "--precision", choices=["32", "16-mixed", "bf16-mixed"], help="train.precision"
    )
    parser.add_argument("--batch-size", type=int, help="train.batch_size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    params = load_params(args.params)
    overrides = {"train.max_epochs": args.epochs, "train.patience": args.epochs + 1}
    chosen = {"accelerator": args.accelerator, "precision": args.precision,
              "batch_size": args.batch_size}  # fmt: skip
    overrides |= {f"train.{key}": value for key, value in chosen.items() if value is not None}
    params = with_overrides(params, overrides)
    with tempfile.TemporaryDirectory() as folder:
        splits, classes = (
            (Path(args.splits), Path(args.classes)) if args.splits else digits_splits(Path(folder))
        )
        data = load_datamodule(splits, classes, None, batch_size=params.train.batch_size,
                               num_workers=params.train.num_workers, seed=params.seed)  # fmt: skip
        data.augment = build_augmentation(params.augment.transforms, seed=params.seed)
        if params.train.num_threads:
            torch.set_num_threads(params.train.num_threads)

        plain_s, plain_acc = plain_loop(params, data, args.epochs)
        start = time.perf_counter()
        result = fit(params.model, params.train, data, seed=params.seed, enable_progress_bar=False)
        lightning_s = time.perf_counter() - start
    lightning_acc = float(result.history["val_acc"].iloc[-1])

    images = len(data.train_labels) * args.epochs
    model, train = params.model, params.train
    print(f"model {model.name} width {model.width} depth {model.depth}, {len(data.train_labels)} "
          f"train images, batch {train.batch_size}, {args.epochs} epochs, "
          f"{torch.get_num_threads()} thread(s)")  # fmt: skip
    print(f"accelerator {train.accelerator} ({device_name(train.accelerator)}), "
          f"precision {train.precision}, torch {torch.__version__}, "
          f"lightning {lightning.__version__}")  # fmt: skip
    print(f"{'':<22}{'wall s':>8}{'s/epoch':>9}{'images/s':>10}{'val acc':>9}")
    for name, seconds, accuracy in (
        ("plain PyTorch loop", plain_s, plain_acc),
        ("Lightning fit()", lightning_s, lightning_acc),
    ):
        print(f"{name:<22}{seconds:>8.2f}{seconds / args.epochs:>9.3f}"
              f"{images / seconds:>10.0f}{accuracy:>9.4f}")  # fmt: skip
    print(f"Lightning / plain wall time: {lightning_s / plain_s:.2f}x")


def device_name(accelerator: str) -> str:
    if accelerator != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "CPU"


if __name__ == "__main__":
    main()
