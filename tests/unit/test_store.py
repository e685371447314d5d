"""The image store: shards written once by ingest, read a batch at a time by everyone else."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from imgclf.data.split_reader import channel_statistics, load_split_images
from imgclf.data.store import ImageStore, ShardWriter, StoreImages
from imgclf.errors import DataError
from tests.support.image_store import write_store


def random_images(count: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def test_shards_hold_at_most_shard_bytes_and_read_back_every_image(tmp_path: Path) -> None:
    images = random_images(50, (4, 4, 3))
    rows = write_store(tmp_path / "store", list(images), ["a"] * 50, shard_bytes=48 * 7)
    shards = sorted(path.name for path in (tmp_path / "store").iterdir())
    assert shards == [f"shard-{i:05d}.npy" for i in range(8)]  # 7 images a shard, 50 images
    assert all(len(np.load(tmp_path / "store" / name)) <= 7 for name in shards)
    view = StoreImages.of_rows(rows, tmp_path / "store")
    assert view.shape == (50, 4, 4, 3) and view.ndim == 4 and len(view) == 50
    assert np.array_equal(view[:], images)


def test_indexing_reads_exactly_the_asked_images_in_the_asked_order(tmp_path: Path) -> None:
    images = random_images(30, (5, 5))
    rows = write_store(tmp_path / "store", list(images), ["a"] * 30, shard_bytes=25 * 4)
    view = StoreImages.of_rows(rows, tmp_path / "store")
    order = [29, 0, 13, 13, 7, -1]
    assert np.array_equal(view[order], images[order])
    assert np.array_equal(view[3], images[3])
    assert np.array_equal(view[5:17:3], images[5:17:3])
    shuffled = rows.sample(frac=1.0, random_state=1)  # a split is any subset, in any order
    assert np.array_equal(
        StoreImages.of_rows(shuffled, tmp_path / "store")[:], images[shuffled.index]
    )


def test_a_store_view_pickles_as_its_location_not_its_pixels(tmp_path: Path) -> None:
    images = random_images(200, (32, 32, 3))
    rows = write_store(tmp_path / "store", list(images), ["a"] * 200, shard_bytes=1 << 20)
    view = StoreImages.of_rows(rows, tmp_path / "store")
    view[:10]  # opens (maps) the shard in this process
    sent = pickle.dumps(view)
    assert len(sent) < images.nbytes / 20  # the index of each image, not 600 KB of pixels
    assert np.array_equal(pickle.loads(sent)[:], images)


def test_the_writer_refuses_an_image_of_another_shape(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, (8, 8))
    with pytest.raises(DataError, match=r"shape \(8, 8, 3\).*data.channels"):
        writer.add(np.zeros((8, 8, 3), np.uint8))


def test_a_missing_or_damaged_shard_names_the_file_and_the_fix(tmp_path: Path) -> None:
    rows = write_store(tmp_path / "store", list(random_images(4, (4, 4))), ["a"] * 4)
    (tmp_path / "store" / "shard-00000.npy").write_bytes(b"not a shard")
    with pytest.raises(
        DataError, match=r"shard-00000.npy: cannot read the image store.*dvc repro ingest"
    ):
        load_split_images(rows, ["a"], "train", tmp_path / "store")
    with pytest.raises(DataError, match="shard-00000.npy: cannot read"):
        load_split_images(rows, ["a"], "train", tmp_path / "elsewhere")


def test_channel_statistics_of_a_store_equal_those_of_the_array(tmp_path: Path) -> None:
    images = random_images(40, (6, 6, 3))
    rows = write_store(tmp_path / "store", list(images), ["a"] * 40, shard_bytes=108 * 3)
    assert channel_statistics(StoreImages.of_rows(rows, tmp_path / "store")) == (
        channel_statistics(images)
    )


def test_a_store_is_shared_not_copied_by_the_processes_that_read_it(tmp_path: Path) -> None:
    # The pixels are file pages (RssFile), not the process's own memory (RssAnon).
    images = random_images(400, (64, 64, 3))  # 4.9 MB
    rows = write_store(tmp_path / "store", list(images), ["a"] * 400, shard_bytes=1 << 30)
    view = StoreImages.of_rows(rows, tmp_path / "store")
    store = view.store.shard("shard-00000.npy")
    before = _rss_anon_kib()
    checksum = int(np.asarray(store).sum(dtype=np.uint64))  # touches every page of the shard
    assert checksum == int(images.sum(dtype=np.uint64))
    assert _rss_anon_kib() - before < images.nbytes / 1024 / 4
    assert isinstance(ImageStore(tmp_path / "store").shard("shard-00000.npy"), np.memmap)


def _rss_anon_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")
