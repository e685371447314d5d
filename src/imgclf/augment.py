"""The augmentation policy: built from params, saved with albumentations' own
serialization, loaded back by training, and previewed as a PNG.

albumentations ignores NumPy's and PyTorch's global seeds; a ``Compose`` carries its own
(``seed=`` / ``set_random_seed``), which is not part of the saved JSON, so the loader
takes the seed explicitly.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np

from imgclf.atomic import atomic_path
from imgclf.config import TransformSpec
from imgclf.errors import ParamError, StaleArtifactError


def build_augmentation(transforms: Sequence[TransformSpec], seed: int) -> A.Compose:
    """An ``A.Compose`` of the named transforms, seeded with ``seed``.

    An unknown name or a bad argument is a :class:`ParamError` naming
    ``augment.transforms[i]``.
    """
    built = []
    for index, spec in enumerate(transforms):
        key = f"augment.transforms[{index}]"
        transform_class = getattr(A, spec.name, None)
        if not (
            isinstance(transform_class, type) and issubclass(transform_class, A.BasicTransform)
        ):
            close = difflib.get_close_matches(spec.name, _transform_names(), n=1)
            hint = (
                f"did you mean {close[0]}?" if close else "see albumentations' list of transforms"
            )
            raise ParamError(f"{key}.name = {spec.name!r}: not an albumentations transform; {hint}")
        try:
            built.append(transform_class(**spec.args))
        except (TypeError, ValueError) as exc:
            reason = " ".join(str(exc).split())
            raise ParamError(
                f"{key}.args = {spec.args!r}: rejected by {spec.name}: {reason}"
            ) from None
    return A.Compose(built, seed=seed)


def _transform_names() -> list[str]:
    return [name for name in dir(A) if isinstance(getattr(A, name), type)]


def save_augmentation(pipeline: A.Compose, path: str | Path) -> None:
    """Atomically serialize ``pipeline`` to JSON with ``A.save``."""
    with atomic_path(path) as tmp:
        A.save(pipeline, str(tmp), data_format="json")


def load_augmentation(path: str | Path, seed: int) -> A.Compose:
    """Load a pipeline written by :func:`save_augmentation` and seed it."""
    path = Path(path)
    if not path.is_file():
        raise StaleArtifactError(f"{path}: not found; run `dvc repro augment` first")
    try:
        pipeline = A.load(str(path), data_format="json")
    except (ValueError, KeyError) as exc:
        raise StaleArtifactError(
            f"{path}: not an albumentations pipeline ({exc}); run `dvc repro --force augment`"
        ) from None
    pipeline.set_random_seed(seed)
    return pipeline


def augment_samples(pipeline: A.Compose, image: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` augmented versions of one HxW or HxWxC uint8 image."""
    return [pipeline(image=image)["image"] for _ in range(count)]


def save_preview(
    originals: Sequence[np.ndarray],
    titles: Sequence[str],
    pipeline: A.Compose,
    path: str | Path,
    per_image: int = 4,
) -> None:
    """A PNG grid: each row an original (first column) beside ``per_image`` augmentations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(originals), per_image + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.4 * rows), squeeze=False)
    for row, (image, title) in enumerate(zip(originals, titles, strict=True)):
        for col, shown in enumerate([image, *augment_samples(pipeline, image, per_image)]):
            axis = axes[row][col]
            axis.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row][0].set_ylabel(title, rotation=0, ha="right", va="center")
    axes[0][0].set_title("original", fontsize=9)
    for col in range(1, cols):
        axes[0][col].set_title(f"augmented {col}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
