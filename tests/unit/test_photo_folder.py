"""bench/photo_folder.py: the photo-like folder the scale benchmark and learning tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.photo_folder import class_names, write_photo_folder

IMAGES, SIZE, CLASSES = 160, 32, 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    write_photo_folder(root, IMAGES, SIZE, classes=CLASSES, seed=3)
    return root


def pictures(folder: Path, name: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(path)) for path in sorted((folder / name).iterdir())]


def test_one_folder_per_class_with_the_images_shared_out_evenly(folder: Path) -> None:
    assert sorted(path.name for path in folder.iterdir()) == sorted(class_names(CLASSES))
    assert all(len(list(path.iterdir())) == IMAGES // CLASSES for path in folder.iterdir())


def test_every_class_holds_half_png_half_jpeg(folder: Path) -> None:
    for path in folder.iterdir():
        suffixes = [image.suffix for image in path.iterdir()]
        assert suffixes.count(".png") == suffixes.count(".jpg") == IMAGES // CLASSES // 2


def test_every_image_is_rgb_at_the_requested_size(folder: Path) -> None:
    for path in folder.glob("*/*"):
        with Image.open(path) as image:
            assert (image.mode, image.size) == ("RGB", (SIZE, SIZE)), path


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(
    folder: Path, tmp_path: Path
) -> None:
    write_photo_folder(tmp_path / "again", IMAGES, SIZE, classes=CLASSES, seed=3)
    write_photo_folder(tmp_path / "other", IMAGES, SIZE, classes=CLASSES, seed=4)
    for path in folder.glob("*/*"):
        relative = path.relative_to(folder)
        assert (tmp_path / "again" / relative).read_bytes() == path.read_bytes(), relative
    changed = [
        path.relative_to(folder)
        for path in folder.glob("*/*")
        if (tmp_path / "other" / path.relative_to(folder)).read_bytes() != path.read_bytes()
    ]
    assert len(changed) == IMAGES


def test_objects_move_so_a_class_average_is_much_flatter_than_one_picture(folder: Path) -> None:
    # Distance from the picture's median colour lights up the object whatever its tint; if
    # objects sat in one place, the class average of those maps would keep the shape.
    for name in class_names(CLASSES):
        maps = [
            np.abs(image.astype(np.float32) - np.median(image, axis=(0, 1))).sum(axis=2)
            for image in pictures(folder, name)
        ]
        one_picture = float(np.mean([m.std() for m in maps]))
        average = float(np.mean(maps, axis=0).std())
        assert average < 0.7 * one_picture, (name, average, one_picture)


def test_more_classes_than_shapes_add_patterns_and_too_many_are_refused() -> None:
    names = class_names(12)
    assert len(set(names)) == 12 and names[10].startswith(names[0] + "-")
    with pytest.raises(ValueError, match="classes"):
        class_names(1000)
