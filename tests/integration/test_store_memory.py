"""Memory that does not grow with the split: two processes (as two DDP ranks) read one store."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.data.datamodule import EpochShuffleSampler, ImageDataModule
from tests.support.image_store import write_store

SIDE = 96  # 27 KB an RGB image: a split of 400 is 11 MB, of 1,600 is 44 MB


def rss_anon_kib() -> int:
    """This process's anonymous resident memory (what the OS cannot page out), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def one_rank_epoch(rows_csv: str, store: str, rank: int) -> int:
    """Read rank ``rank`` of 2's share of one training epoch and every validation batch of a
    split; returns how much anonymous memory the reading added (KiB), after a warm-up batch
    (imports, the first allocations)."""
    rows = pd.read_csv(rows_csv)
    data = ImageDataModule(rows, rows, ["a", "b"], augment=None, batch_size=16, store_dir=store)
    dataset = data.train_dataloader().dataset
    keys = list(EpochShuffleSampler(len(rows), seed=0, replicas=2, rank=rank))
    dataset.__getitems__(keys[:16])
    before = rss_anon_kib()
    seen = 0
    for start in range(0, len(keys), 16):
        images, _labels = dataset.__getitems__(keys[start : start + 16])
        seen += len(images)
    for images, _labels in data.val_dataloader():
        seen += len(images)
    assert seen == len(keys) + len(rows)
    added = rss_anon_kib() - before
    data.teardown("fit")
    return added


def rank_process(jobs: list[tuple[str, str]], rank: int) -> list[int]:
    """One process (as one DDP rank) reading each store of ``jobs`` in turn."""
    return [one_rank_epoch(rows_csv, store, rank) for rows_csv, store in jobs]


def write_split(folder: Path, images: int) -> tuple[str, str]:
    rng = np.random.default_rng(images)
    pixels = rng.integers(0, 256, (images, SIDE, SIDE, 3), dtype=np.uint8)
    rows = write_store(folder / "store", list(pixels), ["a", "b"] * (images // 2), 1 << 24)
    rows.to_csv(folder / "rows.csv", index=False)
    return str(folder / "rows.csv"), str(folder / "store")


def test_two_processes_reading_4x_the_images_use_no_more_of_their_own_memory(tmp_path):
    jobs = [write_split(tmp_path / "small", 400), write_split(tmp_path / "large", 1600)]
    context = multiprocessing.get_context("spawn")  # fresh processes, like DDP ranks
    with context.Pool(2) as pool:
        ranks = pool.starmap(rank_process, [(jobs, rank) for rank in (0, 1)])
    split_kib = 1600 * SIDE * SIDE * 3 // 1024  # 44 MB: what a decoded copy would cost
    # Each rank's own memory holds its batches, not the split: a copy of its half of the
    # large split alone would add 22 MB.
    for small, large in ranks:
        assert large < split_kib // 8, ranks
        assert large - small < split_kib // 16, ranks
