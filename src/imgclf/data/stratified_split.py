"""Stratified, leak-free, stable train/val/test splits (and k folds) of the manifest.

Images with the same content (same sha256) form one group that always lands in one
split. Within each class, groups are ordered by a seeded hash of their sha256 and cut
into contiguous blocks of the right sizes. Ordering by hash instead of shuffling
positions means adding images to a class moves only the few existing images near the
block boundaries; scikit-learn's shuffling splitters would reshuffle everything, which
is why this is written here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from imgclf.config import SplitConfig
from imgclf.data.schema import FOLD_COLUMNS, SPLIT_COLUMNS
from imgclf.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Splits:
    """The three splits (SPLIT_COLUMNS) and, with ``folds > 1``, k folds of train+val."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    folds: pd.DataFrame | None = None


def split_manifest(
    manifest: pd.DataFrame, ratios: SplitConfig, seed: int, official_test_split: bool = True
) -> Splits:
    """Split ``manifest`` rows by class into train/val/test with ``ratios``.

    With ``official_test_split`` and rows whose ``source_split`` is ``"test"`` (the
    Fashion-MNIST test set), those rows are the test split (with every copy of their
    images) and the rest is cut into train and val in the ratio train : val. The same
    ``seed`` and manifest always give the same split. Raises :class:`DataError` naming a
    class that is too small to give every split (and fold) an image.
    """
    groups = content_groups(manifest, seed)
    official = official_test_split and bool((manifest["source_split"] == "test").any())
    assignment: dict[str, str] = {}
    for _label, members in groups.groupby("label", sort=True):
        if official:
            test = members[members["official_test"]]
            rest = members[~members["official_test"]]
            buckets = _allocate(rest, [ratios.train, ratios.val])
            assignment |= dict.fromkeys(test["sha256"], "test")
            assignment |= {
                sha: ("train", "val")[b] for sha, b in zip(rest["sha256"], buckets, strict=True)
            }
        else:
            buckets = _allocate(members, [ratios.train, ratios.val, ratios.test])
            assignment |= {
                sha: SPLIT_NAMES[b] for sha, b in zip(members["sha256"], buckets, strict=True)
            }
    split_of = manifest["sha256"].map(assignment)
    _check_every_split_has_every_class(manifest, split_of, ratios)
    frames = {
        name: manifest.loc[split_of == name, SPLIT_COLUMNS].reset_index(drop=True)
        for name in SPLIT_NAMES
    }
    folds = None
    if ratios.folds > 1:
        folds = make_folds(
            pd.concat([frames["train"], frames["val"]], ignore_index=True), ratios.folds, seed
        )
    return Splits(frames["train"], frames["val"], frames["test"], folds)


def make_folds(rows: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """``rows`` (SPLIT_COLUMNS) with a ``fold`` column 0..k-1: stratified by label, identical
    images in one fold, assigned by seeded hash like the splits."""
    groups = content_groups(rows.assign(source_split=""), seed, salt="fold")
    fold_of: dict[str, int] = {}
    for label, members in groups.groupby("label", sort=True):
        if len(members) < k:
            raise DataError(
                f"class {label!r} has only {len(members)} distinct image(s) in train+val: "
                f"too few for split.folds = {k}; lower split.folds or add images"
            )
        fold_of |= dict(zip(members["sha256"], _allocate(members, [1.0 / k] * k), strict=True))
    folded = rows.assign(fold=rows["sha256"].map(fold_of).astype(int))
    return folded[FOLD_COLUMNS]


def stratified_subset(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` of ``rows`` (SPLIT_COLUMNS), each class keeping its share, chosen by
    the same seeded hash as the splits: the tune stage's trials train on such a subset.

    Rows are returned in their original order; fewer than ``size`` rows come back whole.
    """
    if len(rows) <= size:
        return rows
    keys = rows.assign(key=[_seeded_hash(sha, seed, "subset") for sha in rows["sha256"]])
    shares = keys["label"].value_counts(sort=False)
    quota = {label: max(1, round(count * size / len(rows))) for label, count in shares.items()}
    kept = [
        members.sort_values("key", kind="stable").head(quota[label])
        for label, members in keys.groupby("label", sort=True)
    ]
    return rows.loc[sorted(pd.concat(kept).index)]


def content_groups(manifest: pd.DataFrame, seed: int, salt: str = "split") -> pd.DataFrame:
    """One row per distinct sha256: label, images (copies), official_test, and its seeded
    hash ``key``, sorted by label and key."""
    labels = manifest.groupby("sha256")["label"].agg(["nunique", "first", "size"])
    conflicts = labels.index[labels["nunique"] > 1]
    if len(conflicts):
        raise DataError(
            f"{len(conflicts)} image(s) appear under two classes "
            f"(e.g. sha256 {conflicts[0][:12]}); fix the labels (validate names them)"
        )
    official = manifest["source_split"].eq("test").groupby(manifest["sha256"]).any()
    groups = pd.DataFrame(
        {
            "sha256": labels.index,
            "label": labels["first"].to_numpy(),
            "images": labels["size"].to_numpy(),
            "official_test": official.reindex(labels.index).to_numpy(),
        }
    )
    groups["key"] = [_seeded_hash(sha, seed, salt) for sha in groups["sha256"]]
    return groups.sort_values(["label", "key"], ignore_index=True)


def _seeded_hash(sha256: str, seed: int, salt: str) -> str:
    """The order key of one image content: stable when other images come and go."""
    return hashlib.sha256(f"{seed}:{salt}:{sha256}".encode()).hexdigest()


def bucket_sizes(total: int, ratios: Sequence[float]) -> list[int]:
    """Split ``total`` by ``ratios`` into integers, each within one of exact (largest remainder)."""
    exact = [total * r / sum(ratios) for r in ratios]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (sizes[i] - exact[i], i))
    for i in by_remainder[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _allocate(groups: pd.DataFrame, ratios: Sequence[float]) -> list[int]:
    """Bucket index per group: contiguous blocks in key order, sized in images."""
    sizes = groups["images"].to_numpy()
    bounds = np.cumsum(bucket_sizes(int(sizes.sum()), ratios))
    # A group goes to the block holding its middle image, so copies never straddle blocks.
    middles = np.cumsum(sizes) - sizes / 2.0
    return [int(b) for b in np.searchsorted(bounds, middles, side="right")]


def _check_every_split_has_every_class(
    manifest: pd.DataFrame, split_of: pd.Series, ratios: SplitConfig
) -> None:
    present = pd.crosstab(manifest["label"], split_of).reindex(
        columns=list(SPLIT_NAMES), fill_value=0
    )
    for label, counts in present.iterrows():
        empty = [name for name in SPLIT_NAMES if counts[name] == 0]
        if empty:
            total = manifest.loc[manifest["label"] == label, "sha256"].nunique()
            raise DataError(
                f"class {label!r} has only {total} distinct image(s): too few for split ratios "
                f"train={ratios.train:g}, val={ratios.val:g}, test={ratios.test:g} "
                f"({', '.join(empty)} would get none); add images or change the ratios"
            )
