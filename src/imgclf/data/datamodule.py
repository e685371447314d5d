"""A split's images in the store -> Lightning's DataModule.

Images stay in the memory-mapped store (:mod:`imgclf.data.store`): a batch is read when it
is fetched, so a process holds batches, not splits, and every process on the machine shares
the store's pages. Normalisation statistics come from the train split only. The
albumentations policy runs on training images only, and is re-seeded for every batch from a
seed that the sampler derives from ``(seed, epoch)``: albumentations ignores global seeds,
and seeding per batch makes an epoch's augmentations the same whatever ``num_workers`` is and
whether training was resumed. Dataloader workers themselves are seeded by Lightning
(``seed_everything(workers=True)``).

A batch is fetched whole (``__getitems__``, one read of the store), and leaves the loader as
numpy uint8 images and int64 labels that become tensors in the batch-transfer hooks
(``BENCHMARKS.md``, data loading). Code that iterates a loader itself (the plain loop in
``bench/``, tests) passes each batch through :meth:`ImageDataModule.tensors`.

The train loader (:class:`TrainBatches`) keeps one DataLoader iterator for the whole fit, so
its worker never idles between epochs; each epoch is still a pure function of its number.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import albumentations as A
import lightning.pytorch as L
import numpy as np
import pandas as pd
import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset, Sampler

from imgclf.augment import load_augmentation
from imgclf.data.schema import read_classes, read_split
from imgclf.data.split_reader import (
    ImageArray,
    LabelledImages,
    load_split_images,
)
from imgclf.errors import DataError
from imgclf.models.spec import standardize

SampleKey = tuple[int, int]  # (index, augmentation seed)
RawBatch = tuple[np.ndarray, np.ndarray]  # uint8 images, int64 labels, as a loader yields them
Batch = tuple[torch.Tensor, torch.Tensor]  # float32 NCHW images, int64 labels
# Loader workers are forked on Linux, as a main process's are by default. A tune worker is a
# spawned process, whose default is spawn: that would import torch again in every fit's loader
# worker, and a spawned worker reads its start-up state from a pipe that a killed tune worker
# leaves truncated, printing an UnpicklingError traceback into the study's output.
WORKER_START = "fork" if sys.platform == "linux" else None
# Train batches a worker hands over at once: each hand-over costs the training process about
# 0.35 ms (the DataLoader's queue, unpickling), for one batch or four.
BATCHES_PER_GROUP = 4


class ImageDataset(Dataset[tuple[np.ndarray, int]]):
    """uint8 images (in the store or in memory) and labels, fetched a batch at a time as
    numpy arrays.

    With ``augment``, items are fetched by ``(index, seed)`` keys (see
    :class:`EpochShuffleSampler`) and augmented with that seed; without, by plain index.
    """

    def __init__(
        self, images: ImageArray, labels: np.ndarray, augment: A.Compose | None = None
    ) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | SampleKey) -> tuple[np.ndarray, int]:
        images, labels = self.__getitems__([key])
        return images[0], int(labels[0])

    def __getitems__(self, keys: Sequence[int | SampleKey]) -> RawBatch:
        """One batch: uint8 images (N, H, W[, C]) and int64 labels (N,).

        Augmented batches are seeded once, from the first key's seed, then augmented image
        by image in key order.
        """
        pairs = [key if isinstance(key, tuple) else (key, key) for key in keys]
        index = [position for position, _ in pairs]
        labels, images = self.labels[index], self.images[index]
        if self.augment is None:
            return images, labels
        seed = pairs[0][1]
        self.augment.set_random_state(np.random.default_rng(seed), random.Random(seed))
        return np.stack([self.augment(image=image)["image"] for image in images]), labels


class EpochShuffleSampler(Sampler[SampleKey]):
    """A shuffle that is a pure function of ``(seed, epoch)``, plus one augmentation seed
    per sample from the same generator.

    Lightning calls ``set_epoch`` before every epoch (as it does for DistributedSampler), so
    a run resumed at epoch N sees exactly the order and augmentations of an uninterrupted one.
    Under several processes (DDP) each ``rank`` takes every ``replicas``-th key of the same
    order, padded by wrapping around like DistributedSampler, so ranks never overlap.
    """

    def __init__(self, size: int, seed: int, replicas: int = 1, rank: int = 0) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.replicas, self.rank = replicas, rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.replicas)

    def __iter__(self) -> Iterator[SampleKey]:
        return iter(self.keys(self.epoch))

    def keys(self, epoch: int) -> list[SampleKey]:
        """This rank's keys of epoch ``epoch``, whatever epoch is set."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        seeds = torch.randint(0, 2**62, (self.size,), generator=generator).tolist()
        keys = list(zip(order, seeds, strict=True))
        keys += keys[: len(self) * self.replicas - self.size]
        return keys[self.rank :: self.replicas]


class EpochBatchSampler(Sampler[list[list[SampleKey]]]):
    """The batches of ``sampler``'s keys, epoch after epoch from ``first_epoch``, without end,
    in groups of up to ``group`` batches that never span two epochs.

    One DataLoader iterator over it serves a whole fit (:class:`TrainBatches`), so its worker
    prepares the next epoch's first batches while the current epoch ends and validation runs.
    """

    def __init__(
        self, sampler: EpochShuffleSampler, batch_size: int, first_epoch: int, group: int
    ) -> None:
        self.sampler, self.batch_size, self.first_epoch = sampler, batch_size, first_epoch
        self.group = group

    def __iter__(self) -> Iterator[list[list[SampleKey]]]:
        for epoch in itertools.count(self.first_epoch):
            keys = self.sampler.keys(epoch)
            batches = [keys[i : i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
            for start in range(0, len(batches), self.group):
                yield batches[start : start + self.group]


class BatchGroups(Dataset[RawBatch]):
    """``dataset`` read a group of whole batches at a time (what :class:`EpochBatchSampler`
    hands out)."""

    def __init__(self, dataset: ImageDataset) -> None:
        self.dataset = dataset

    def __getitems__(self, group: Sequence[list[SampleKey]]) -> list[RawBatch]:
        return [self.dataset.__getitems__(keys) for keys in group]


class TrainBatches:
    """The train split's loader as Lightning sees it: ``len`` batches an epoch, and a
    ``sampler`` whose ``set_epoch`` Lightning calls before each epoch.

    Rules: one DataLoader iterator over :class:`EpochBatchSampler` runs across all epochs of
    a fit, so its worker never waits at an epoch's start (``BENCHMARKS.md``, "Loading: whole
    batches"); a worker hands over :data:`BATCHES_PER_GROUP` batches at a time; an epoch
    other than the one the stream is at (a resumed run, a stopped epoch, ``set_epoch`` by
    hand) restarts the stream there, so every epoch's batches are those of a fresh iterator.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        sampler: EpochShuffleSampler,
        batch_size: int,
        num_workers: int,
        worker_init_fn: Callable[[int], None] | None = None,
    ) -> None:
        self.dataset, self.sampler, self.batch_size = dataset, sampler, batch_size
        self.num_workers, self.worker_init_fn = num_workers, worker_init_fn
        self._stream: Iterator[list[RawBatch]] | None = None
        self._stream_epoch: int | None = None  # the epoch the stream's next group opens
        self._restart(sampler.epoch)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[RawBatch]:
        epoch = self.sampler.epoch
        if self._stream is None or self._stream_epoch != epoch:
            self._restart(epoch)
        stream, remaining = self._stream, len(self)
        assert stream is not None
        self._stream_epoch = None  # mid-epoch until its last group is out
        while remaining:
            group = next(stream)
            remaining -= len(group)
            if not remaining:  # set before the yields: Lightning stops after len(self) batches
                self._stream_epoch = epoch + 1
            yield from group

    def close(self) -> None:
        """Stop the iterator's worker processes now, and drop it.

        Workers must stop when the fit ends, not when the garbage collector finds the
        iterator: a late collection stalls the next fit of the process for the DataLoader's
        5 s status-check timeout (commit history of this method). torch has no public call
        for it; Lightning stops its own loaders' workers with the same ``_shutdown_workers``.
        """
        stream, self._stream, self._stream_epoch = self._stream, None, None
        shutdown = getattr(stream, "_shutdown_workers", None)  # only iterators with workers
        if shutdown is not None:
            shutdown()

    def _restart(self, epoch: int) -> None:
        self.close()
        loader = DataLoader(
            BatchGroups(self.dataset),
            batch_sampler=EpochBatchSampler(
                self.sampler, self.batch_size, first_epoch=epoch, group=BATCHES_PER_GROUP
            ),
            num_workers=self.num_workers,
            multiprocessing_context=WORKER_START if self.num_workers else None,
            collate_fn=keep_batch,  # __getitems__ already returns whole batches
            worker_init_fn=self.worker_init_fn,
            # A private generator (workers' base seed): creating an iterator must not draw
            # from the global RNG, or when it is created would change dropout masks.
            generator=torch.Generator().manual_seed(self.sampler.seed),
        )
        self._stream, self._stream_epoch = iter(loader), epoch


class ImageDataModule(L.LightningDataModule):
    """train/val(/test) split rows (read from the store at ``store_dir``) or their images
    (:class:`LabelledImages`, shared read-only between the fits of a study: each fit builds
    its own module with its own batch size and augmentation).

    After construction: ``classes``, ``channels``, ``image_size``, and the train split's
    per-channel ``mean``/``std`` (pixels scaled to 0..1).
    """

    def __init__(
        self,
        train: pd.DataFrame | LabelledImages,
        val: pd.DataFrame | LabelledImages,
        classes: list[str],
        *,
        augment: A.Compose | None,
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
        test: pd.DataFrame | LabelledImages | None = None,
        store_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.classes = list(classes)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.augment = augment
        self._first_epoch = 0  # set by load_state_dict when a fit resumes from a checkpoint
        self._train_batches: TrainBatches | None = None
        train = _images(train, self.classes, "train", store_dir)
        self.train_images, self.train_labels = train.images, train.labels
        val = _images(val, self.classes, "val", store_dir)
        self.val_images, self.val_labels = val.images, val.labels
        self.test_images: ImageArray | None = None
        self.test_labels: np.ndarray | None = None
        if test is not None:
            test = _images(test, self.classes, "test", store_dir)
            self.test_images, self.test_labels = test.images, test.labels
        shape = self.train_images.shape[1:]
        for name, images in (("val", self.val_images), ("test", self.test_images)):
            if images is not None and images.shape[1:] != shape:
                raise DataError(
                    f"{name} images are {images.shape[1:]}, train images {shape}; "
                    "run `dvc repro ingest`"
                )
        if shape[0] != shape[1]:
            raise DataError(
                f"images must be square, got {shape[0]}x{shape[1]}; check data.image_size"
            )
        self.image_size = int(shape[0])
        self.channels = 1 if len(shape) == 2 else int(shape[2])
        self.mean, self.std = train.statistics

    def train_dataloader(self) -> TrainBatches:
        dataset = ImageDataset(self.train_images, self.train_labels, self.augment)
        # The Trainer runs with use_distributed_sampler=False: this sampler shards itself.
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = EpochShuffleSampler(len(dataset), self.seed, replicas, rank)
        # The loader starts its worker now, before Lightning calls set_epoch, so it starts at
        # the epoch this fit begins with: 0, or a resumed run's, kept in this module's
        # checkpoint state (Lightning issue #21938: on resume it sets the epoch late too).
        # Starting at another epoch would only cost a restart.
        sampler.set_epoch(self._first_epoch)
        self.close_train_batches()
        # Lightning seeds the workers of DataLoaders it is handed (seed_everything(workers=True));
        # this one is made here, so it gets Lightning's worker seeding here.
        seeding = os.environ.get("PL_SEED_WORKERS") == "1" and self.num_workers > 0
        self._train_batches = TrainBatches(
            dataset,
            sampler,
            self.batch_size,
            self.num_workers,
            partial(pl_worker_init_function, rank=rank) if seeding else None,
        )
        return self._train_batches

    def close_train_batches(self) -> None:
        """Stop the train loader's worker processes (Lightning's teardown does not know them)."""
        if self._train_batches is not None:
            self._train_batches.close()

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint: the epoch a run resumed from it starts at (ours are
        written at the end of an epoch)."""
        return {"next_epoch": self.trainer.current_epoch + 1} if self.trainer else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._first_epoch = int(state_dict.get("next_epoch", 0))

    def teardown(self, stage: str) -> None:
        self._first_epoch = 0  # the next fit on this module starts fresh unless resumed
        self.close_train_batches()

    def val_dataloader(self) -> DataLoader:
        """The val split, or under DDP this process's every ``world_size``-th image of it:
        each process validates its own shard and the module sums the figures."""
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        dataset = ImageDataset(self.val_images, self.val_labels)
        return self._loader(dataset, range(rank, len(dataset), replicas))

    def test_dataloader(self) -> DataLoader:
        if self.test_images is None or self.test_labels is None:
            raise DataError("this data module has no test split")
        return self._loader(ImageDataset(self.test_images, self.test_labels))

    def on_before_batch_transfer(self, batch: RawBatch, dataloader_idx: int) -> Batch:
        """Lightning's hook: a loader's numpy batch as tensors (still uint8), in the
        training process."""
        images, labels = batch
        return torch.from_numpy(images), torch.from_numpy(labels)

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        """Lightning's hook: the batch, on its device, standardised by the train split's
        statistics."""
        images, labels = batch
        return standardize(images, self.mean, self.std), labels

    def tensors(self, batch: RawBatch, device: torch.device | str = "cpu") -> Batch:
        """What Lightning makes of a loader's batch: both hooks around the transfer."""
        images, labels = self.on_before_batch_transfer(batch, 0)
        return self.on_after_batch_transfer((images.to(device), labels.to(device)), 0)

    def _loader(self, dataset: ImageDataset, indices: Sequence[int] | None = None) -> DataLoader:
        """A val or test loader, in the training process: a batch is one read of the store
        (worker processes augment the train split only)."""
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=indices,  # None: every image, in order
            collate_fn=keep_batch,  # __getitems__ already returns whole batches
            # A private generator: creating an iterator must not draw from the global RNG,
            # or when Lightning creates it (earlier on resume) would change dropout masks.
            generator=torch.Generator().manual_seed(self.seed),
        )


def keep_batch(batch: Any) -> Any:
    """The DataLoader's ``collate_fn`` for a batch that :class:`ImageDataset` built whole."""
    return batch


def _images(
    split: pd.DataFrame | LabelledImages,
    classes: list[str],
    name: str,
    store_dir: str | Path | None,
) -> LabelledImages:
    if isinstance(split, LabelledImages):
        return split
    if store_dir is None:
        raise TypeError("split rows need the store_dir their shards are in")
    return load_split_images(split, classes, name, store_dir)


def load_datamodule(
    splits_dir: str | Path,
    store_dir: str | Path,
    classes_path: str | Path,
    augment_path: str | Path | None,
    *,
    batch_size: int,
    num_workers: int,
    seed: int,
) -> ImageDataModule:
    """The data module of the split stage's ``train/val/test.csv`` (test when present), whose
    images are in the store at ``store_dir``."""
    splits_dir = Path(splits_dir)
    test_csv = splits_dir / "test.csv"
    return ImageDataModule(
        read_split(splits_dir / "train.csv"),
        read_split(splits_dir / "val.csv"),
        read_classes(classes_path),
        augment=load_augmentation(augment_path, seed) if augment_path is not None else None,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        test=read_split(test_csv) if test_csv.is_file() else None,
        store_dir=store_dir,
    )
