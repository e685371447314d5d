"""The data module: splits read from the image store, train-only augmentation, seeded epochs."""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch

from imgclf.augment import save_augmentation
from imgclf.data.datamodule import EpochShuffleSampler, ImageDataModule, load_datamodule
from imgclf.data.split_reader import channel_statistics
from imgclf.errors import DataError
from imgclf.models.spec import normalize
from tests.support.image_store import write_store

CLASSES = ["circle", "square", "triangle"]
STORE = "store"  # the image store's folder, relative to the test's working folder (tmp_path)


def write_images(
    root: Path, per_class: int = 8, size: int = 8, channels: int = 1, seed: int = 0
) -> pd.DataFrame:
    """A store of three learnable classes (a bright band whose row depends on the class) at
    ``root / STORE``; returns its rows."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label_index, label in enumerate(CLASSES):
        for _ in range(per_class):
            pixels = rng.integers(0, 60, size=(size, size, channels), dtype=np.uint8)
            band = slice(label_index * size // 3, (label_index + 1) * size // 3)
            pixels[band] = 230
            images.append(pixels[..., 0] if channels == 1 else pixels)
            labels.append(label)
    return write_store(root / STORE, images, labels)


def make_splits(root: Path, **kwargs: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """train/val/test frames: every third image to val, every sixth to test."""
    frame = write_images(root, **kwargs)
    position = np.arange(len(frame))
    val, test = frame[position % 3 == 1], frame[position % 6 == 2]
    train = frame[(position % 3 != 1) & (position % 6 != 2)]
    return train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True)


def flip_everything() -> A.Compose:
    return A.Compose([A.HorizontalFlip(p=1.0)], seed=0)


def first_images(data: ImageDataModule, loader: Any) -> torch.Tensor:
    """The first batch's images as training sees them (after the batch-transfer hooks)."""
    return data.tensors(next(iter(loader)))[0]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def splits(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return make_splits(tmp_path)


def test_data_module_knows_shape_classes_and_train_statistics(splits):
    train, val, test = splits
    data = ImageDataModule(
        train, val, CLASSES, store_dir=STORE, augment=None, batch_size=4, test=test
    )
    assert (data.channels, data.image_size, data.classes) == (1, 8, CLASSES)
    assert data.mean == pytest.approx(channel_statistics(data.train_images)[0])
    assert data.mean != channel_statistics(data.val_images)[0]  # train split only
    images, labels = data.tensors(next(iter(data.test_dataloader())))
    assert images.shape == (4, 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64


def test_normalised_train_images_have_zero_mean_unit_std(splits):
    train, val, _ = splits
    data = ImageDataModule(train, val, CLASSES, store_dir=STORE, augment=None, batch_size=64)
    images = torch.cat([data.tensors(batch)[0] for batch in data.train_dataloader()])
    assert images.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert images.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_rgb_images_give_three_channels_and_three_statistics(tmp_path):
    train, val, _ = make_splits(tmp_path, channels=3, size=16)
    data = ImageDataModule(train, val, CLASSES, store_dir=STORE, augment=None, batch_size=4)
    assert (data.channels, data.image_size, len(data.mean), len(data.std)) == (3, 16, 3, 3)
    assert data.tensors(next(iter(data.val_dataloader())))[0].shape == (4, 3, 16, 16)


def test_augmentation_changes_train_images_only(splits):
    train, val, _ = splits
    plain = ImageDataModule(train, val, CLASSES, store_dir=STORE, augment=None, batch_size=64)
    flipped = ImageDataModule(
        train, val, CLASSES, store_dir=STORE, augment=flip_everything(), batch_size=64
    )
    plain_train, flipped_train = (first_images(d, d.train_dataloader()) for d in (plain, flipped))
    assert torch.equal(flipped_train, plain_train.flip(-1))
    assert torch.equal(
        first_images(plain, plain.val_dataloader()), first_images(flipped, flipped.val_dataloader())
    )


def test_train_order_and_augmentation_depend_only_on_seed_and_epoch(splits):
    train, val, _ = splits
    augment = A.Compose([A.Affine(rotate=(-30, 30), p=1.0)], seed=0)

    def epoch_batch(seed: int, epoch: int) -> torch.Tensor:
        data = ImageDataModule(
            train, val, CLASSES, store_dir=STORE, augment=augment, batch_size=64, seed=seed
        )
        loader = data.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return first_images(data, loader)

    assert torch.equal(epoch_batch(1, 3), epoch_batch(1, 3))
    assert not torch.equal(epoch_batch(1, 3), epoch_batch(1, 4))
    assert not torch.equal(epoch_batch(1, 3), epoch_batch(2, 3))


def test_ddp_ranks_share_one_epoch_order_without_overlap():
    whole = list(EpochShuffleSampler(10, seed=3))
    ranks = [EpochShuffleSampler(10, seed=3, replicas=3, rank=r) for r in range(3)]
    shards = [list(sampler) for sampler in ranks]
    assert all(
        len(shard) == len(sampler) == 4 for shard, sampler in zip(shards, ranks, strict=True)
    )
    assert sorted(sum(shards, [])) == sorted(whole + whole[:2])


def test_worker_processes_give_the_same_batches_as_the_main_process(splits):
    train, val, _ = splits
    augment = A.Compose([A.Affine(rotate=(-30, 30), p=1.0)], seed=0)
    batches = []
    for workers in (0, 2):
        data = ImageDataModule(
            train,
            val,
            CLASSES,
            store_dir=STORE,
            augment=augment,
            batch_size=64,
            num_workers=workers,
            seed=5,
        )
        batches.append(first_images(data, data.train_dataloader()))
    assert torch.equal(*batches)


def epoch_images(data: ImageDataModule, loader: Any, epoch: int) -> list[torch.Tensor]:
    """Every batch of ``epoch`` from ``loader``, as training sees them."""
    loader.sampler.set_epoch(epoch)
    return [data.tensors(batch)[0] for batch in loader]


def test_epochs_from_one_running_loader_match_fresh_loaders(splits):
    # The train loader keeps one DataLoader iterator across epochs (its worker prepares the
    # next epoch during validation); each epoch must still be exactly that epoch's batches.
    train, val, _ = splits
    augment = A.Compose([A.Affine(rotate=(-30, 30), p=1.0)], seed=0)

    def module() -> ImageDataModule:
        return ImageDataModule(
            train,
            val,
            CLASSES,
            store_dir=STORE,
            augment=augment,
            batch_size=2,
            num_workers=1,
            seed=5,
        )

    def new_processes() -> set[multiprocessing.process.BaseProcess]:
        return set(multiprocessing.active_children()) - before

    before = set(multiprocessing.active_children())
    running = module()
    loader = running.train_dataloader()
    assert len(loader) == 6  # 12 images: one full hand-over from the worker, one partial
    followed_on = [epoch_images(running, loader, 0)]
    worker = new_processes()
    followed_on += [epoch_images(running, loader, epoch) for epoch in (1, 2)]
    assert len(worker) == 1 and new_processes() == worker  # one worker throughout
    fresh = []
    for epoch in range(3):
        data = module()
        fresh.append(epoch_images(data, data.train_dataloader(), epoch))
    assert all(len(batches) == len(loader) for batches in followed_on)
    for ours, theirs in zip(followed_on, fresh, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not torch.equal(followed_on[0][0], followed_on[1][0])


def test_an_epoch_left_midway_or_out_of_order_starts_from_its_first_batch(splits):
    train, val, _ = splits
    data = ImageDataModule(
        train, val, CLASSES, store_dir=STORE, augment=None, batch_size=2, num_workers=1
    )
    expected = {epoch: epoch_images(data, data.train_dataloader(), epoch) for epoch in (0, 4)}
    loader = data.train_dataloader()
    iterator = iter(loader)
    next(iterator), next(iterator), next(iterator)  # a pruned trial, an interrupted epoch
    for epoch in (0, 4):  # again from its start, then a jump (a resumed run)
        batches = epoch_images(data, loader, epoch)
        assert all(torch.equal(a, b) for a, b in zip(batches, expected[epoch], strict=True))


def test_teardown_stops_the_train_loaders_worker_at_once(splits):
    # Not when the garbage collector gets to it: Lightning's loops still hold the loader's
    # epoch generator, and a collected iterator stalled the next trial 5 s for its worker.
    train, val, _ = splits
    data = ImageDataModule(
        train, val, CLASSES, store_dir=STORE, augment=None, batch_size=2, num_workers=1
    )
    before = set(multiprocessing.active_children())
    loader = data.train_dataloader()
    epoch_images(data, loader, 0)
    held = iter(loader)  # as Lightning's fetcher holds the next epoch's
    next(held)
    assert set(multiprocessing.active_children()) - before  # the worker runs on, ahead
    data.teardown("fit")
    assert not set(multiprocessing.active_children()) - before


def test_a_worker_hands_over_uint8_arrays_that_train_standardised_as_serving_does(splits):
    # Tensors from a worker cost a shared-memory segment each; arrays are pickled. The
    # hooks then give exactly the tensors that serving's preprocessing gives.
    train, val, _ = splits
    data = ImageDataModule(
        train, val, CLASSES, store_dir=STORE, augment=None, batch_size=8, num_workers=1
    )
    images, labels = next(iter(data.train_dataloader()))
    assert isinstance(images, np.ndarray) and images.dtype == np.uint8
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64
    tensors, label_tensor = data.tensors((images, labels))
    assert torch.equal(tensors, normalize(images, data.mean, data.std))
    assert torch.equal(label_tensor, torch.from_numpy(labels))


def test_label_missing_from_classes_is_a_data_error(splits):
    train, val, _ = splits
    with pytest.raises(DataError, match="not in classes.json"):
        ImageDataModule(train, val, CLASSES[:2], store_dir=STORE, augment=None, batch_size=4)


def test_load_datamodule_reads_the_split_stage_folder(tmp_path, splits):
    folder = tmp_path / "splits"
    folder.mkdir()
    for name, frame in zip(("train", "val", "test"), splits, strict=True):
        frame.to_csv(folder / f"{name}.csv", index=False)
    (tmp_path / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    save_augmentation(flip_everything(), tmp_path / "augment.json")
    data = load_datamodule(
        folder,
        STORE,
        tmp_path / "classes.json",
        tmp_path / "augment.json",
        batch_size=4,
        num_workers=0,
        seed=0,
    )
    assert data.augment is not None
    assert len(data.test_labels) == len(splits[2])


@pytest.mark.parametrize("shape", [(4096 * 2 + 5, 8, 8), (300, 6, 6, 3)])
def test_channel_statistics_are_numpys_mean_and_std_summed_a_chunk_at_a_time(shape):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    pixels = images.reshape(len(images), -1, 1 if images.ndim == 3 else 3) / 255.0
    mean, std = channel_statistics(images)
    assert mean == pytest.approx(pixels.mean(axis=(0, 1)), abs=1e-12)
    assert std == pytest.approx(pixels.std(axis=(0, 1)), abs=1e-12)


def loader_worker_start_methods(queue) -> None:  # noqa: ANN001 - a multiprocessing queue
    """In a spawned process (as a tune worker is): how the train loader starts its worker."""
    from imgclf.data.datamodule import EpochShuffleSampler, ImageDataset, TrainBatches

    images, labels = np.zeros((8, 4, 4), np.uint8), np.zeros(8, np.int64)
    batches = TrainBatches(ImageDataset(images, labels), EpochShuffleSampler(8, 0), 2, 1)
    next(iter(batches))
    queue.put([worker._start_method for worker in batches._stream._workers])
    batches.close()


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_a_tune_workers_loader_forks_its_worker_so_a_kill_leaves_no_traceback() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=loader_worker_start_methods, args=(queue,))
    child.start()
    methods = queue.get(timeout=120)
    child.join(timeout=60)

    assert methods == ["fork"]
    assert child.exitcode == 0
