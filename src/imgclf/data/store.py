"""The image store: every canonical image, decoded once by ingest, in a few large shards.

A shard is a ``.npy`` file holding a ``uint8`` array of up to :data:`SHARD_BYTES` of images
(``n x H x W`` or ``n x H x W x 3``). The manifest and the split CSVs locate each image by
its ``shard`` (file name) and ``offset`` (row in that file), so a million images are about a
thousand files for DVC, never a million.

Readers memory-map the shards (``np.load(mmap_mode="r")``): the pixels are file pages that
the OS shares between every process on the machine (study workers, dataloader workers, DDP
ranks) and pages out under pressure, so a process's own (anonymous) memory holds a batch,
not a split. :class:`StoreImages` is a split's images as an array that reads only the rows
it is indexed with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imgclf.errors import DataError

# About 1,000 shards for a million 224 px RGB images (150 KB each), 1 to 100 for the sizes
# a CPU trains on; a changed image rewrites one shard of at most this size.
SHARD_BYTES = 128 * 1024 * 1024
SHARD_PATTERN = "shard-{:05d}.npy"


class ShardWriter:
    """Appends canonical images to numbered shards in ``folder``, a shard at a time.

    Holds at most one shard in memory (``shard_bytes``). Call :meth:`close` to write the
    last, partly filled shard.
    """

    def __init__(
        self, folder: Path, image_shape: tuple[int, ...], shard_bytes: int = SHARD_BYTES
    ) -> None:
        self.folder, self.image_shape = folder, tuple(image_shape)
        per_image = math.prod(self.image_shape)
        self.capacity = max(1, shard_bytes // per_image)
        self._buffer = np.empty((self.capacity, *self.image_shape), dtype=np.uint8)
        self._filled = 0
        self._shards = 0
        self._name = SHARD_PATTERN.format(0)

    def add(self, pixels: np.ndarray) -> tuple[str, int]:
        """Store one canonical image; returns its ``(shard, offset)``."""
        if pixels.shape != self.image_shape:
            raise DataError(
                f"image of shape {pixels.shape} in a store of {self.image_shape} images; "
                "check data.channels and data.image_size"
            )
        self._buffer[self._filled] = pixels
        location = (self._name, self._filled)  # one name object per shard, not per image
        self._filled += 1
        if self._filled == self.capacity:
            self._flush()
        return location

    def close(self) -> None:
        if self._filled:
            self._flush()
        self._buffer = np.empty((0, *self.image_shape), dtype=np.uint8)

    def _flush(self) -> None:
        np.save(self.folder / SHARD_PATTERN.format(self._shards), self._buffer[: self._filled])
        self._shards += 1
        self._filled = 0
        self._name = SHARD_PATTERN.format(self._shards)


class ImageStore:
    """The shards of one store folder, each memory-mapped the first time it is read.

    Pickles as its folder alone, so a process it is sent to maps the files itself instead
    of receiving a copy of their pixels.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._shards: dict[str, np.ndarray] = {}

    def shard(self, name: str) -> np.ndarray:
        """The shard ``name`` as a read-only memory-mapped array."""
        if name not in self._shards:
            path = self.folder / name
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"{path}: cannot read the image store ({exc}); run `dvc repro ingest` "
                    "(or `dvc pull`)"
                ) from None
            if array.dtype != np.uint8 or array.ndim not in (3, 4):
                raise DataError(
                    f"{path}: not an image shard ({array.dtype}, {array.ndim} dimensions); "
                    "run `dvc repro --force ingest`"
                )
            self._shards[name] = array
        return self._shards[name]

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"])  # type: ignore[misc]


class StoreImages:
    """A split's images, in its CSV's row order, read from the store only when indexed.

    Behaves like the ``uint8`` array ``N x H x W[ x C]`` it stands for where the pipeline
    needs it: ``len``, ``shape``, ``ndim``, ``dtype``, and indexing by an integer, a slice
    or an array of positions, which returns an in-memory copy of just those images.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, store: ImageStore, shards: Sequence[str], offsets: Sequence[int]) -> None:
        self.store = store
        names, codes = np.unique(np.asarray(shards, dtype=str), return_inverse=True)
        self._names = [str(name) for name in names]
        self._codes = codes.astype(np.int32)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        if len(self._codes) != len(self._offsets):
            raise ValueError("one shard and one offset per image")
        self._image_shape: tuple[int, ...] | None = None

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, store_dir: str | Path) -> StoreImages:
        """The images of rows with ``shard`` and ``offset`` columns (a split or the manifest)."""
        return cls(ImageStore(store_dir), rows["shard"].tolist(), rows["offset"].tolist())

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def image_shape(self) -> tuple[int, ...]:
        if self._image_shape is None:
            if not len(self):
                raise DataError("no images to read a shape from")
            self._image_shape = tuple(self.store.shard(self._names[self._codes[0]]).shape[1:])
        return self._image_shape

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.image_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.image_shape)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(index, int | np.integer):
            return self._gather(np.array([int(index)]))[0]
        if isinstance(index, slice):
            return self._gather(np.arange(len(self))[index])
        return self._gather(np.asarray(index, dtype=np.int64))

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, images)`` for consecutive blocks of at most ``size`` images."""
        for start in range(0, len(self), size):
            yield start, self[start : start + size]

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        if positions.size and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(f"image index out of range for {len(self)} images")
        codes, offsets = self._codes[positions], self._offsets[positions]
        out = np.empty((len(positions), *self.image_shape), dtype=np.uint8)
        for code in np.unique(codes):
            chosen = codes == code
            shard = self.store.shard(self._names[code])
            wanted = offsets[chosen]
            if wanted.size and wanted.max() >= len(shard):
                raise DataError(
                    f"{self.store.folder / self._names[code]}: holds {len(shard)} images, the "
                    f"split asks for row {wanted.max()}; run `dvc repro split`"
                )
            out[chosen] = shard[wanted]
        return out


def images_per_chunk(image_shape: Sequence[int], chunk_bytes: int = 16 * 1024 * 1024) -> int:
    """How many images of ``image_shape`` make about ``chunk_bytes`` (at least one): the
    block size of every whole-split pass, so its memory stays the same at any split size."""
    return max(1, chunk_bytes // max(1, math.prod(image_shape)))
