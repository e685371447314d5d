"""Lightning training (imgclf's ``fit``) against a plain PyTorch loop, side by side.

Same network (built from the same spec and seed), same data loaders over the same
in-memory tensors, same epochs, batch size, optimizer and per-step cosine schedule, one
validation pass per epoch in both; early stopping is off (patience > epochs). Prints both
wall times, training images per second, final validation accuracy, and the ratio.

    .venv/bin/python bench/bench_train.py                      # the digits, made in a temp dir
    .venv/bin/python bench/bench_train.py --splits data/splits --classes data/classes.json
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

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


def plain_loop(params, data: ImageDataModule, epochs: int) -> tuple[float, float]:
    """The same training written by hand; returns (seconds, final val accuracy)."""
    seed_everything(params.seed, workers=True, verbose=False)
    net = build_network(spec_for(params.model, data))
    init_weights(net, params.model.init)
    train_loader, val_loader = data.train_dataloader(), data.val_dataloader()
    optimizer = build_optimizer(net.parameters(), params.train)
    schedule = build_scheduler(optimizer, params.train, total_steps=epochs * len(train_loader))
    start = time.perf_counter()
    for epoch in range(epochs):
        train_loader.sampler.set_epoch(epoch)
        seed_everything(epoch_seed(params.seed, epoch), workers=True, verbose=False)  # as fit does
        net.train()
        for images, labels in train_loader:
            loss = F.cross_entropy(
                net(images), labels, label_smoothing=params.train.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None and schedule["interval"] == "step":
                schedule["scheduler"].step()
        if schedule is not None and schedule["interval"] == "epoch":
            schedule["scheduler"].step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in val_loader:
                correct += int((net(images).argmax(1) == labels).sum())
    return time.perf_counter() - start, correct / len(data.val_labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--splits", help="split folder (default: the digits, made in a temp dir)")
    parser.add_argument("--classes", help="classes.json (with --splits)")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")

    params = load_params(args.params)
    params = with_overrides(
        params, {"train.max_epochs": args.epochs, "train.patience": args.epochs + 1}
    )
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
    print(f"{'':<22}{'wall s':>8}{'images/s':>10}{'val acc':>9}")
    print(f"{'plain PyTorch loop':<22}{plain_s:>8.2f}{images / plain_s:>10.0f}{plain_acc:>9.4f}")
    row = f"{lightning_s:>8.2f}{images / lightning_s:>10.0f}{lightning_acc:>9.4f}"
    print(f"{'Lightning fit()':<22}{row}")
    print(f"Lightning / plain wall time: {lightning_s / plain_s:.2f}x")


if __name__ == "__main__":
    main()
