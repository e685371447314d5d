"""The augmentation policy: built from params, saved, loaded back, seeded, previewed."""

from pathlib import Path

import numpy as np
import pytest

from imgclf.augment import build_augmentation, load_augmentation, save_augmentation, save_preview
from imgclf.config import TransformSpec
from imgclf.errors import ConfigError, StaleArtifactError
from imgclf.profiles import read_profile

POLICY = [
    TransformSpec(
        name="Affine", args={"rotate": [-15, 15], "translate_percent": [-0.1, 0.1], "p": 1.0}
    ),
    TransformSpec(name="RandomBrightnessContrast", args={"p": 0.5}),
]


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(16, 16), dtype=np.uint8)


def test_saved_policy_loads_back_and_augments_identically(
    tmp_path: Path, image: np.ndarray
) -> None:
    path = tmp_path / "augment.json"
    save_augmentation(build_augmentation(POLICY, seed=7), path)
    first = load_augmentation(path, seed=7)(image=image)["image"]
    again = load_augmentation(path, seed=7)(image=image)["image"]
    other_seed = load_augmentation(path, seed=8)(image=image)["image"]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    assert first.shape == image.shape and first.dtype == np.uint8


def test_misspelled_transform_suggests_the_real_name() -> None:
    with pytest.raises(
        ConfigError, match=r"augment\.transforms\[0\]\.name = 'Afine'.*did you mean Affine"
    ):
        build_augmentation([TransformSpec(name="Afine")], seed=0)


def test_bad_transform_argument_names_the_transform() -> None:
    with pytest.raises(ConfigError, match=r"augment\.transforms\[0\]\.args.*rejected by Affine"):
        build_augmentation([TransformSpec(name="Affine", args={"rotate": "lots"})], seed=0)


def test_missing_policy_file_says_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(StaleArtifactError, match="dvc repro augment"):
        load_augmentation(tmp_path / "missing.json", seed=0)


def test_preview_is_a_png_with_originals_and_augmentations(
    tmp_path: Path, image: np.ndarray
) -> None:
    out = tmp_path / "preview.png"
    save_preview([image, image], ["a", "b"], build_augmentation(POLICY, seed=0), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))


def test_the_fashion_profiles_policy_trains_as_saved(tmp_path: Path) -> None:
    # albumentations writes a `padding` argument for PadIfNeeded that it ignores on loading
    # (configure_logging silences its warning): the loaded pipeline must still be the built one.
    policy = [
        TransformSpec(**spec)
        for spec in read_profile(Path("profiles/fashion-mnist.yaml"))["augment.transforms"]
    ]
    images = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    built = build_augmentation(policy, seed=3)
    path = tmp_path / "augment.json"
    save_augmentation(built, path)
    with pytest.warns(UserWarning, match="'padding' are not valid for transform PadIfNeeded"):
        loaded = load_augmentation(path, seed=3)
    built.set_random_seed(3)
    for image in images:
        assert np.array_equal(built(image=image)["image"], loaded(image=image)["image"])
