"""split: stratified, exact to one image, leak-free, reproducible and stable under additions."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from imgclf.config import SplitConfig
from imgclf.data.schema import FOLD_COLUMNS, MANIFEST_COLUMNS, SPLIT_COLUMNS
from imgclf.data.stratified_split import Splits, bucket_sizes, split_manifest
from imgclf.errors import DataError

DEFAULT = SplitConfig()


def manifest(per_class: dict[str, int], start: int = 0, source_split: str = "") -> pd.DataFrame:
    """A manifest of distinct images: ``per_class[label]`` rows per class, stored in one
    shard per class (split never reads the pixels)."""
    rows = []
    for label, count in per_class.items():
        for index in range(start, start + count):
            sha = hashlib.sha256(f"{label}/{index}".encode()).hexdigest()
            path = f"{label}/{index:05d}"
            source = f"{label}/{index:05d}.png"
            shard = f"shard-{label}.npy"
            rows.append([path, label, sha, 8, 8, "L", 64, source, source_split, shard, index])
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def split_of(splits: Splits) -> dict[str, str]:
    """path -> split name."""
    return {
        path: name for name in ("train", "val", "test") for path in getattr(splits, name)["path"]
    }


def test_default_ratios_give_per_class_counts_within_one_image_of_exact() -> None:
    sizes = {str(digit): 170 + 3 * digit for digit in range(10)}
    splits = split_manifest(manifest(sizes), DEFAULT, seed=42)
    for name, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        frame = getattr(splits, name)
        assert list(frame.columns) == SPLIT_COLUMNS
        counts = frame["label"].value_counts()
        for label, total in sizes.items():
            assert abs(counts[label] - total * ratio) <= 1, (name, label)
    assert sum(len(getattr(splits, n)) for n in ("train", "val", "test")) == sum(sizes.values())


def test_identical_images_never_cross_splits() -> None:
    base = manifest({"a": 40, "b": 40})
    copies = base.iloc[::3].assign(path=lambda f: f["path"] + "-copy")
    splits = split_manifest(pd.concat([base, copies], ignore_index=True), DEFAULT, seed=1)
    seen = [set(getattr(splits, name)["sha256"]) for name in ("train", "val", "test")]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_same_seed_and_manifest_give_the_same_split() -> None:
    data = manifest({"a": 50, "b": 60})
    first, again = (
        split_manifest(data, DEFAULT, seed=7),
        split_manifest(data.sample(frac=1, random_state=3), DEFAULT, seed=7),
    )
    assert split_of(first) == split_of(again)
    assert split_of(first) != split_of(split_manifest(data, DEFAULT, seed=8))


def test_adding_images_moves_few_existing_ones() -> None:
    before = split_of(split_manifest(manifest({"a": 200, "b": 200}), DEFAULT, seed=0))
    grown = pd.concat(
        [manifest({"a": 200, "b": 200}), manifest({"a": 20, "b": 20}, start=200)], ignore_index=True
    )
    after = split_of(split_manifest(grown, DEFAULT, seed=0))
    moved = sum(before[path] != after[path] for path in before)
    assert moved <= 8  # 40 new images (10%); a reshuffle would move about a third of 400


def test_a_class_too_small_for_the_ratios_is_named_with_its_count() -> None:
    with pytest.raises(DataError, match=r"class 'rare' has only 4 distinct image\(s\)"):
        split_manifest(manifest({"common": 50, "rare": 4}), DEFAULT, seed=0)


def test_official_test_set_stays_the_test_split_and_takes_its_copies() -> None:
    train = manifest({"a": 30, "b": 30})
    test = manifest({"a": 10, "b": 10}, start=1000, source_split="test")
    leaked = test.iloc[[0]].assign(path="a/train-copy", source_split="")
    splits = split_manifest(pd.concat([train, test, leaked], ignore_index=True), DEFAULT, seed=0)
    assert set(splits.test["path"]) == {*test["path"], "a/train-copy"}
    assert len(splits.train) == 54 and len(splits.val) == 6  # 60 images cut 8:1


def test_official_test_set_can_be_ignored() -> None:
    data = pd.concat(
        [manifest({"a": 30, "b": 30}), manifest({"a": 10, "b": 10}, start=99, source_split="test")]
    )
    splits = split_manifest(data, DEFAULT, seed=0, official_test_split=False)
    assert len(splits.test) == 8


def test_folds_are_stratified_over_train_and_val_and_keep_copies_together() -> None:
    base = manifest({"a": 60, "b": 90})
    data = pd.concat(
        [base, base.iloc[::5].assign(path=lambda f: f["path"] + "-copy")], ignore_index=True
    )
    splits = split_manifest(data, SplitConfig(folds=3), seed=0)
    assert splits.folds is not None and list(splits.folds.columns) == FOLD_COLUMNS
    assert len(splits.folds) == len(splits.train) + len(splits.val)
    assert splits.folds.groupby("sha256")["fold"].nunique().max() == 1
    per_class = splits.folds.groupby(["label", "fold"]).size().unstack()
    assert (per_class.max(axis=1) - per_class.min(axis=1)).max() <= 2  # copies make groups of 2


def test_no_folds_file_with_a_single_fold() -> None:
    assert split_manifest(manifest({"a": 20, "b": 20}), DEFAULT, seed=0).folds is None


def test_folds_need_k_images_of_every_class() -> None:
    with pytest.raises(DataError, match="split.folds = 20"):
        split_manifest(manifest({"a": 20, "b": 20}), SplitConfig(folds=20), seed=0)


def test_bucket_sizes_are_within_one_of_exact_and_add_up() -> None:
    assert bucket_sizes(10, [0.8, 0.1, 0.1]) == [8, 1, 1]
    assert bucket_sizes(9, [0.8, 0.1, 0.1]) == [7, 1, 1]
    assert sum(bucket_sizes(17, [0.7, 0.15, 0.15])) == 17
