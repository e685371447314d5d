"""validate: the GX suites pass clean data and name each failed expectation with its value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imgclf.config import ValidateConfig
from imgclf.data.images import pixel_sha256
from imgclf.data.schema import MANIFEST_COLUMNS
from imgclf.data.store import ShardWriter
from imgclf.data.validate import SUITE_KEYS, ValidationReport, load_suite, validate_manifest

CLASSES = ["a", "b"]


STORE = "images"  # the image store's folder under the test's tmp_path


def write_images(
    root: Path, per_class: dict[str, int], size: int = 8, blank: bool = False
) -> pd.DataFrame:
    """Distinct random 8x8 grayscale canonical images in a store at ``root / STORE``; returns
    their manifest."""
    rng = np.random.default_rng(0)
    (root / STORE).mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(root / STORE, (size, size), shard_bytes=4096)  # several shards
    rows = []
    for class_index, (label, count) in enumerate(per_class.items()):
        for index in range(count):
            pixels = (
                np.full((size, size), 100, np.uint8)
                if blank
                else rng.integers(0, 256, (size, size), dtype=np.uint8)
            )
            pixels[0, 0], pixels[0, 1] = 100 + class_index, 100 + index  # distinct, still blank
            shard, offset = writer.add(pixels)
            path = f"{label}/{index:03d}"
            rows.append(
                [path, label, pixel_sha256(pixels), size, size, "L", pixels.nbytes,
                 f"{path}.png", "", shard, offset]
            )  # fmt: skip
    writer.close()
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def check(manifest: pd.DataFrame, root: Path, **cfg: object) -> ValidationReport:
    config = ValidateConfig(**{"min_images_per_class": 5, **cfg})  # type: ignore[arg-type]
    return validate_manifest(
        manifest,
        CLASSES,
        config,
        channels=1,
        image_size=8,
        docs_dir=root / "docs",
        store_dir=root / STORE,
    )


def copy_row(manifest: pd.DataFrame, path: str, label: str) -> pd.DataFrame:
    """``manifest`` plus a copy of its first image (same pixels in the store) at ``path``
    labelled ``label``."""
    return pd.concat(
        [manifest, manifest.iloc[[0]].assign(path=path, label=label)], ignore_index=True
    )


def failed_names(report: ValidationReport) -> list[str]:
    return [outcome.name for outcome in report.failures]


@pytest.fixture
def clean(tmp_path: Path) -> pd.DataFrame:
    return write_images(tmp_path, {"a": 6, "b": 6})


def test_every_suite_file_loads_whole() -> None:
    for name in SUITE_KEYS:
        document = json.loads(
            (
                Path(__file__).parents[2] / "src/imgclf/data/expectations" / f"{name}.json"
            ).read_text()
        )
        assert len(load_suite(name).expectations) == len(document["expectations"])


def test_clean_data_passes_and_data_docs_are_written(clean: pd.DataFrame, tmp_path: Path) -> None:
    report = check(clean, tmp_path)
    assert report.success, report.failure_message()
    assert len(report.outcomes) == 16
    assert (tmp_path / "docs" / "index.html").is_file()
    assert report.to_dict()["success"] is True


def test_duplicate_images_fail_naming_their_paths(clean: pd.DataFrame, tmp_path: Path) -> None:
    report = check(copy_row(clean, "a/copy", "a"), tmp_path)
    assert failed_names(report) == ["images: expect_column_values_to_be_unique(sha256)"]
    assert "a/copy" in report.failure_message()


def test_duplicates_only_warn_when_allowed(clean: pd.DataFrame, tmp_path: Path) -> None:
    duplicated = copy_row(clean, "a/copy", "a")
    report = check(duplicated, tmp_path, allow_duplicates=True)
    assert report.success
    assert [w.name for w in report.warnings] == [
        "images: expect_column_values_to_be_unique(sha256)"
    ]


def test_same_image_under_two_classes_fails_even_when_duplicates_are_allowed(
    clean: pd.DataFrame, tmp_path: Path
) -> None:
    conflicting = copy_row(clean, "b/same", "b")
    report = check(conflicting, tmp_path, allow_duplicates=True)
    assert failed_names(report) == ["label_conflicts: expect_column_values_to_be_unique(sha256)"]
    assert "label=b" in report.failure_message() and "label=a" in report.failure_message()


def test_too_few_images_in_a_class_fails_with_the_count(tmp_path: Path) -> None:
    report = check(write_images(tmp_path, {"a": 6, "b": 3}), tmp_path)
    assert failed_names(report) == ["class_balance: expect_column_values_to_be_between(images)"]
    assert "3 (label=b)" in report.failure_message()


def test_imbalance_over_the_limit_fails_with_the_ratio(tmp_path: Path) -> None:
    report = check(write_images(tmp_path, {"a": 30, "b": 5}), tmp_path, max_imbalance=4.0)
    assert failed_names(report) == [
        "class_balance: expect_column_max_to_be_between(ratio_to_smallest)"
    ]
    assert "observed 6" in report.failure_message()


def test_a_class_without_images_and_an_unknown_label_fail(
    clean: pd.DataFrame, tmp_path: Path
) -> None:
    relabelled = clean.assign(label=clean["label"].replace({"b": "zebra"}))
    names = failed_names(check(relabelled, tmp_path))
    assert "images: expect_column_values_to_be_in_set(label)" in names
    assert "class_balance: expect_column_distinct_values_to_equal_set(label)" in names


def test_missing_labels_fail(clean: pd.DataFrame, tmp_path: Path) -> None:
    report = check(clean.assign(label=["", *clean["label"][1:]]), tmp_path)
    assert "images: expect_column_values_to_not_be_null(label)" in failed_names(report)


def test_wrong_size_and_mode_fail_with_the_observed_values(
    clean: pd.DataFrame, tmp_path: Path
) -> None:
    report = check(clean.assign(width=[9, *clean["width"][1:]], mode="RGB"), tmp_path)
    assert set(failed_names(report)) == {
        "images: expect_column_values_to_be_between(width)",
        "images: expect_column_values_to_be_in_set(mode)",
    }
    assert "1 of 12 values unexpected, e.g. 9 (path=a/000)" in report.failure_message()


def test_blank_images_fail_the_pixel_statistics(tmp_path: Path) -> None:
    report = check(write_images(tmp_path, {"a": 6, "b": 6}, blank=True), tmp_path)
    assert failed_names(report) == ["pixel_stats: expect_column_mean_to_be_between(std)"]
    assert "observed" in report.failure_message()
