"""Tiny image stores for tests: arrays in, shards on disk and split rows out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.data.store import ShardWriter


def write_store(
    folder: Path, images: Sequence[np.ndarray], labels: Sequence[str], shard_bytes: int = 4096
) -> pd.DataFrame:
    """Write ``images`` into a store at ``folder`` (small shards, so tests cross shard
    boundaries); returns split rows (path, label, sha256, shard, offset) in image order."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(folder, tuple(images[0].shape), shard_bytes)
    rows = []
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        shard, offset = writer.add(np.asarray(pixels, dtype=np.uint8))
        rows.append(
            {"path": f"{label}/{index:05d}", "label": label, "sha256": f"{label}-{index}",
             "shard": shard, "offset": offset}
        )  # fmt: skip
    writer.close()
    return pd.DataFrame(rows)
