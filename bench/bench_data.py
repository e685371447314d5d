"""The benchmarks' data: the digits as ingest and the split stage leave them (an image store
and split CSVs), and Fashion-MNIST in memory, both made from what the packages ship."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from imgclf.data.sources import fashion_mnist_source
from imgclf.data.split_reader import LabelledImages
from imgclf.data.store import ShardWriter


def digits_splits(root: Path) -> tuple[Path, Path, Path]:
    """scikit-learn's digits in an image store + stratified 80/10/10 split CSVs, like ingest +
    split; returns the splits folder, the store folder and ``classes.json``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    store = root / "images"
    store.mkdir(parents=True)
    writer = ShardWriter(store, digits.images.shape[1:])
    rows = []
    for index, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        shard, offset = writer.add(np.round(image * 255 / 16).astype(np.uint8))
        rows.append({"path": f"{label}/{index:05d}", "label": str(label), "sha256": str(index),
                     "shard": shard, "offset": offset})  # fmt: skip
    writer.close()
    frame = pd.DataFrame(rows)
    train, rest = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=42)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=42)
    (root / "splits").mkdir()
    for name, part in (("train", train), ("val", val), ("test", test)):
        part.to_csv(root / "splits" / f"{name}.csv", index=False)
    (root / "classes.json").write_text(json.dumps({"classes": [str(i) for i in range(10)]}))
    return root / "splits", store, root / "classes.json"


def fashion_mnist_splits(
    folder: Path, val_share: float, train_images: int | None, seed: int
) -> tuple[LabelledImages, LabelledImages, list[str]]:
    """The official training set stratified into train and ``val_share`` val, in memory;
    with ``train_images`` a stratified subset of that many, val cut in the same proportion."""
    source = fashion_mnist_source(folder)
    index = {name: i for i, name in enumerate(source.classes)}
    official = [c for c in source.candidates if c.source_split != "test"]
    images = np.stack([c.pixels for c in official if c.pixels is not None])
    labels = np.array([index[str(c.label)] for c in official], dtype=np.int64)
    train, val = train_test_split(
        np.arange(len(labels)), test_size=val_share, stratify=labels, random_state=seed
    )
    if train_images is not None and train_images < len(train):
        keep_val = max(len(index), round(train_images * val_share / (1 - val_share)))
        train = train_test_split(
            train, train_size=train_images, stratify=labels[train], random_state=seed
        )[0]
        val = train_test_split(val, train_size=keep_val, stratify=labels[val], random_state=seed)[0]
    return (
        LabelledImages(images[train], labels[train]),
        LabelledImages(images[val], labels[val]),
        source.classes,
    )


def fashion_mnist_subset_splits(
    root: Path, folder: Path, train: int, val: int, test: int, seed: int
) -> tuple[Path, Path, Path]:
    """A stratified Fashion-MNIST subset in an image store + split CSVs, like ingest + split:
    ``train`` and ``val`` images from the official training set, ``test`` from the official
    test set; returns the splits folder, the store folder and ``classes.json``."""
    source = fashion_mnist_source(folder)
    store = root / "images"
    store.mkdir(parents=True)
    writer = ShardWriter(store, (28, 28))
    rows = []
    for index, candidate in enumerate(source.candidates):
        assert candidate.pixels is not None
        shard, offset = writer.add(candidate.pixels)
        rows.append({"path": f"{candidate.label}/{index:05d}", "label": str(candidate.label),
                     "sha256": str(index), "shard": shard, "offset": offset,
                     "official": candidate.source_split})  # fmt: skip
    writer.close()
    frame = pd.DataFrame(rows)
    official_train = frame[frame["official"] != "test"]
    official_test = frame[frame["official"] == "test"]
    kept, _ = train_test_split(
        official_train, train_size=train + val, stratify=official_train["label"], random_state=seed
    )
    train_rows, val_rows = train_test_split(
        kept, test_size=val, stratify=kept["label"], random_state=seed
    )
    test_rows, _ = train_test_split(
        official_test, train_size=test, stratify=official_test["label"], random_state=seed
    )
    (root / "splits").mkdir()
    for name, part in (("train", train_rows), ("val", val_rows), ("test", test_rows)):
        part.drop(columns="official").to_csv(root / "splits" / f"{name}.csv", index=False)
    (root / "classes.json").write_text(json.dumps({"classes": list(source.classes)}))
    return root / "splits", store, root / "classes.json"
