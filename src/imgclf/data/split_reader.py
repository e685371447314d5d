"""A split's images, read from the image store: the one loader of canonical images by split.

Training (the data module) and evaluation both read a split through
:func:`load_split_images`, so a split that does not match ``classes.json`` or the store is
refused the same way, with one error type, wherever it is read. Nothing is decoded or
loaded here: the images are a :class:`~imgclf.data.store.StoreImages` view that reads the
rows it is indexed with from the memory-mapped shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.data.schema import read_split
from imgclf.data.store import StoreImages, images_per_chunk
from imgclf.errors import DataError

# A split's images: a store view, or an in-memory array (tests, benchmarks, small data).
ImageArray = np.ndarray | StoreImages


@dataclass(frozen=True)
class LabelledImages:
    """Canonical uint8 images (N x H x W[ x C], indexable like an array) and their integer
    labels (class indices)."""

    images: ImageArray
    labels: np.ndarray

    @cached_property
    def statistics(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """:func:`channel_statistics` of these images, computed once (a study's fits share it)."""
        return channel_statistics(self.images)


def channel_statistics(images: ImageArray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (NHW or NHWC) scaled to 0..1.

    Summed as exact integers a block of about 16 MiB of images at a time, so the memory is
    the same at any split size and the figures do not depend on the block size.
    """
    channels = 1 if images.ndim == 3 else images.shape[-1]
    total = np.zeros(channels, dtype=np.uint64)
    squares = np.zeros(channels, dtype=np.uint64)
    block = images_per_chunk(images.shape[1:])
    for start in range(0, len(images), block):
        pixels = np.asarray(images[start : start + block]).reshape(-1, channels)
        total += pixels.sum(axis=0, dtype=np.uint64)
        squares += np.square(pixels, dtype=np.uint32).sum(axis=0, dtype=np.uint64)
    count = len(images) * int(np.prod(images.shape[1:])) // channels
    mean = total.astype(np.float64) / count
    variance = np.maximum(squares.astype(np.float64) / count - np.square(mean), 0.0)
    # A constant channel must not divide by 0.
    std = np.maximum(np.sqrt(variance) / 255.0, 1e-6)
    return tuple(float(m) for m in mean / 255.0), tuple(float(s) for s in std)


def load_split_images(
    frame: pd.DataFrame, classes: Sequence[str], split: str, store_dir: str | Path
) -> LabelledImages:
    """The images of a split's rows (``path,label,...,shard,offset``) in the store at
    ``store_dir``, with labels as indices into ``classes``; raises :class:`DataError`
    naming ``split``."""
    if frame.empty:
        raise DataError(f"the {split} split is empty; check split.* ratios and the data")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(frame["label"].astype(str)) - set(index))
    if unknown:
        raise DataError(
            f"{split} split has labels {unknown[:5]} not in classes.json; run `dvc repro split`"
        )
    labels = np.array([index[str(label)] for label in frame["label"]], dtype=np.int64)
    images = StoreImages.of_rows(frame, store_dir)
    images.image_shape  # noqa: B018 - opens the first shard: a missing store fails here, by name
    return LabelledImages(images, labels)


def split_image_size(split_csv: str | Path, store_dir: str | Path) -> int:
    """The side of a split's canonical (square) images, read from the store's header."""
    return int(StoreImages.of_rows(read_split(split_csv).head(1), store_dir).image_shape[0])
