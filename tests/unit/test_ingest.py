"""ingest: every file found is a manifest row or a rejected row, and bad input is named."""

from __future__ import annotations

import gzip
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imgclf.config import DataConfig
from imgclf.data import ingest as ingest_module
from imgclf.data.images import load_image, pixel_sha256
from imgclf.data.ingest import IGNORED_NOT_IMAGE, class_folders, ingest
from imgclf.data.schema import MANIFEST_COLUMNS, REJECTED_COLUMNS
from imgclf.data.sources import (
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    fashion_mnist_source,
    read_idx,
)
from imgclf.data.store import StoreImages
from imgclf.errors import DataError
from tests.unit.conftest import PER_CLASS, save_image


def folder_config(root: Path, **overrides: object) -> DataConfig:
    return DataConfig(source="folder", path=str(root), channels=3, image_size=8, **overrides)


def files_found(root: Path) -> int:
    """Files, file symlinks and folder symlinks under ``root``: what ingest must account for."""
    count = 0
    for folder, dirs, files in os.walk(root):
        count += len(files) + sum(Path(folder, name).is_symlink() for name in dirs)
    return count


def run(cfg: DataConfig, tmp_path: Path, workers: int = 1, **options: int):
    (tmp_path / "out").mkdir(parents=True, exist_ok=True)
    return ingest(cfg, tmp_path / "out", workers=workers, **options)


def test_folder_ingest_writes_the_store_and_its_manifest(
    image_folder: Path, tmp_path: Path
) -> None:
    result = run(folder_config(image_folder), tmp_path)
    assert result.classes == ["bird", "cat", "dog"]
    assert list(result.manifest.columns) == MANIFEST_COLUMNS
    assert len(result.manifest) == 3 * PER_CLASS and result.rejected.empty
    first = result.manifest.iloc[0]
    assert first["path"].startswith("bird/") and first["label"] == "bird"
    assert first["source"] == str(image_folder / "bird" / "00.png")
    assert (first["width"], first["height"], first["mode"], first["bytes"]) == (8, 8, "RGB", 192)
    stored = StoreImages.of_rows(result.manifest, tmp_path / "out")[:]
    assert stored.shape == (3 * PER_CLASS, 8, 8, 3)
    expected = load_image(image_folder / "bird" / "00.png", 3, 8, "stretch", 10**8)
    assert np.array_equal(stored[0], expected)
    assert [pixel_sha256(image) for image in stored] == result.manifest["sha256"].tolist()


def test_a_million_images_are_about_a_thousand_shards_not_a_million_files(
    image_folder: Path, tmp_path: Path
) -> None:
    # Shards of at most shard_bytes: 36 images of 192 bytes, 5 a shard -> 8 files.
    result = run(folder_config(image_folder), tmp_path, shard_bytes=5 * 192)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"shard-{index:05d}.npy" for index in range(8)
    ]
    assert result.manifest["offset"].max() == 4
    assert result.manifest.groupby("shard").size().tolist() == [5] * 7 + [1]


def test_skip_accounts_for_every_file_found(
    image_folder: Path, tmp_path: Path, add_bad_inputs
) -> None:
    added = add_bad_inputs(image_folder)
    result = run(folder_config(image_folder, on_bad_image="skip"), tmp_path)
    assert len(result.manifest) + len(result.rejected) == files_found(image_folder)
    assert list(result.rejected.columns) == REJECTED_COLUMNS
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    expected = {
        "zero_byte": "empty file",
        "truncated": "truncated",
        "not_an_image": "not an allowed image",
        "random_bytes": "not an allowed image",
        "bomb": "decompression bomb",
        "symlink_outside": "outside data.path",
        "eps": "not an allowed image",
        "ignored_readme": "ignored: not inside a class folder",
        "ignored_ds_store": "ignored: hidden file",
        "ignored_text": IGNORED_NOT_IMAGE,
    }
    for kind, reason in expected.items():
        assert reason in reasons[str(added[kind])], kind
    assert (result.bad, result.ignored) == (7, 3)
    assert len(result.manifest) == 3 * PER_CLASS


def test_fail_stops_and_lists_every_bad_file(
    image_folder: Path, tmp_path: Path, add_bad_inputs
) -> None:
    added = add_bad_inputs(image_folder)
    with pytest.raises(DataError) as raised:
        run(folder_config(image_folder), tmp_path)
    message = str(raised.value)
    assert message.startswith("7 bad image file(s)")
    for kind, path in added.items():
        assert (str(path) in message) == (not kind.startswith("ignored")), kind


def test_a_fifo_named_like_an_image_is_rejected_without_hanging(
    image_folder: Path, tmp_path: Path
) -> None:
    fifo = image_folder / "cat" / "stuck.png"
    os.mkfifo(fifo)
    outcome: dict[str, object] = {}

    def ingest_in_thread() -> None:
        try:
            outcome["result"] = run(folder_config(image_folder, on_bad_image="skip"), tmp_path)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    worker = threading.Thread(target=ingest_in_thread, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # blocked opening the FIFO: a writer end lets it go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("ingest blocked on a FIFO")
    result = outcome["result"]
    assert isinstance(result, ingest_module.IngestResult), outcome
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    assert "not a regular file (a FIFO" in reasons[str(fifo)]
    assert len(result.manifest) == 3 * PER_CLASS


def test_a_file_over_max_file_bytes_is_named_and_never_read(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = image_folder / "dog" / "huge.png"
    huge.write_bytes(b"")
    os.truncate(huge, 3 * 2**30)  # sparse: 3 GiB in its size, nothing written to disk
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k)
    )
    with pytest.raises(DataError) as raised:
        run(folder_config(image_folder), tmp_path)
    assert f"{huge}: file is 3,221,225,472 bytes, more than data.max_file_bytes" in str(
        raised.value
    )
    assert str(huge) not in opened
    result = run(folder_config(image_folder, on_bad_image="skip"), tmp_path)
    assert list(result.rejected["path"]) == [str(huge)]


def test_odd_modes_unicode_names_and_upper_case_extensions_are_ingested(
    image_folder: Path, tmp_path: Path, odd_images: dict[str, Path]
) -> None:
    for path in odd_images.values():
        target = image_folder / "ñandú" / path.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(path.read_bytes())
    result = run(folder_config(image_folder), tmp_path)
    assert result.rejected.empty
    assert (result.manifest["label"] == "ñandú").sum() == len(odd_images)


def test_images_below_class_folders_at_any_depth_belong_to_the_class(
    image_folder: Path, tmp_path: Path
) -> None:
    save_image(
        image_folder / "cat" / "2024" / "june" / "deep.png", np.full((16, 16, 3), 9, np.uint8)
    )
    manifest = run(folder_config(image_folder), tmp_path).manifest
    assert manifest.loc[manifest["source"].str.endswith("deep.png"), "label"].tolist() == ["cat"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "no such folder"),
        ("one_class", "at least two sub-folders"),
        ("empty_class", "hold no image files"),
    ],
)
def test_unusable_folders_are_one_clear_message(
    image_folder: Path, tmp_path: Path, layout: str, message: str
) -> None:
    root = image_folder
    if layout == "missing":
        root = tmp_path / "nowhere"
    elif layout == "one_class":
        root = tmp_path / "single"
        save_image(root / "cat" / "a.png", np.zeros((4, 4), np.uint8))
    else:
        (root / "empty").mkdir()
    with pytest.raises(DataError, match=message):
        run(folder_config(root), tmp_path)


def test_a_class_left_without_images_after_skipping_is_an_error(
    image_folder: Path, tmp_path: Path
) -> None:
    (image_folder / "fish").mkdir()
    (image_folder / "fish" / "broken.png").write_bytes(b"")
    with pytest.raises(DataError, match="fish"):
        run(folder_config(image_folder, on_bad_image="skip"), tmp_path)


def test_parallel_ingest_equals_serial_ingest(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(ingest_module, "_PARALLEL_FROM", {"files": 1, "pixels": 1})
    serial = run(folder_config(image_folder), tmp_path / "a", workers=1)
    parallel = run(folder_config(image_folder), tmp_path / "b", workers=2)
    pd.testing.assert_frame_equal(serial.manifest, parallel.manifest)
    for shard in serial.manifest["shard"].unique():
        assert (tmp_path / "a/out" / shard).read_bytes() == (
            tmp_path / "b/out" / shard
        ).read_bytes()


def test_class_names_become_safe_unique_folders() -> None:
    assert class_folders(["T-shirt/top", "T-shirt top", "..", "猫"]) == {
        "T-shirt/top": "T-shirt_top",
        "T-shirt top": "T-shirt_top-1",
        "..": "class_2",
        "猫": "猫",
    }


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_files_keep_the_official_test_set(tmp_path: Path) -> None:
    folder = tmp_path / "fmnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    result = run(DataConfig(source="fashion-mnist", path=str(folder), image_size=28), tmp_path)
    assert result.classes == FASHION_MNIST_CLASSES
    assert (result.manifest["source_split"] == "test").sum() == 10
    assert "T-shirt_top/train-00000" in set(result.manifest["path"])


def test_truncated_idx_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(2))
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 28, 28) + b"\0" * 100)
    with pytest.raises(DataError, match="truncated"):
        fashion_mnist_source(folder)


@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST, "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's Fashion-MNIST is not installed: `apt-get install -y dataset-fashion-mnist`",
)
def test_debian_fashion_mnist_files_read_as_60000_train_and_10000_test_images() -> None:
    folder = Path(DEBIAN_FASHION_MNIST)
    assert read_idx(folder / "train-labels-idx1-ubyte.gz").shape == (60_000,)
    assert read_idx(folder / "t10k-images-idx3-ubyte.gz").shape == (10_000, 28, 28)
    assert set(read_idx(folder / "t10k-labels-idx1-ubyte.gz")) == set(range(10))
