"""A split's images decoded into memory: the one loader of canonical images by split.

Training (the data module) and evaluation both read a split's PNGs through
:func:`load_split_images`, so a split that does not match ``classes.json`` or mixes image
shapes is refused the same way, with one error type, wherever it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.data.images import read_image
from imgclf.data.schema import read_split
from imgclf.errors import DataError


@dataclass(frozen=True)
class LabelledImages:
    """Canonical uint8 images (N x H x W[ x C]) and their integer labels (class indices)."""

    images: np.ndarray
    labels: np.ndarray


def load_split_images(frame: pd.DataFrame, classes: Sequence[str], split: str) -> LabelledImages:
    """Decode every ``path`` of a split (rows of ``path,label``) into one uint8 array, with
    labels as indices into ``classes``; raises :class:`DataError` naming ``split``."""
    if frame.empty:
        raise DataError(f"the {split} split is empty; check split.* ratios and the data")
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(frame["label"].astype(str)) - set(index))
    if unknown:
        raise DataError(
            f"{split} split has labels {unknown[:5]} not in classes.json; run `dvc repro split`"
        )
    labels = np.array([index[str(label)] for label in frame["label"]], dtype=np.int64)
    arrays = [read_image(path) for path in frame["path"]]
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1:
        raise DataError(
            f"{split} split mixes image shapes {sorted(shapes)}; run `dvc repro ingest`"
        )
    return LabelledImages(np.stack(arrays), labels)


def split_image_size(split_csv: str | Path) -> int:
    """The side of a split's canonical (square) images, read from its first image."""
    return int(read_image(read_split(split_csv)["path"].iloc[0]).shape[0])
