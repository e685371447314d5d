"""Where images come from: scikit-learn's digits, Fashion-MNIST IDX files, or a folder.

Each source becomes a :class:`Source`: the class names in label-index order and one
:class:`Candidate` per image or file found. Nothing is decoded here; ingest turns the
candidates into canonical images and accounts for every one of them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from imgclf.config import DataConfig
from imgclf.data.images import DEFAULT_MAX_FILE_BYTES, unreadable_file_reason
from imgclf.errors import DataError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # apt-get install dataset-fashion-mnist

_IDX_DTYPES: dict[int, str | type] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


@dataclass(frozen=True, slots=True)  # slots: ingest holds one per file found
class Candidate:
    """One thing found in the source: in-memory pixels, an image file, or a file to list.

    ``bad`` or ``ignored`` is set when the source already knows the file must not be read
    (a symlink out of ``data.path``, a file outside any class folder).
    """

    source: str
    label: str | None
    image_id: str
    source_split: str = ""
    file: Path | None = None
    pixels: np.ndarray | None = field(default=None, compare=False)
    bad: str | None = None
    ignored: str | None = None


@dataclass(frozen=True)
class Source:
    """The class names in label-index order and every candidate found."""

    classes: list[str]
    candidates: list[Candidate]


def open_source(cfg: DataConfig) -> Source:
    """The source that ``data.source`` names, read from ``data.path`` where it needs one."""
    if cfg.source == "digits":
        return digits_source()
    if cfg.source == "fashion-mnist":
        return fashion_mnist_source(Path(cfg.path), cfg.max_file_bytes)
    return folder_source(Path(cfg.path), cfg.max_file_bytes)


def digits_source() -> Source:
    """scikit-learn's 1,797 8x8 digits (0..16 ink levels scaled to 0..255), classes "0".."9"."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    candidates = [
        Candidate(
            source=f"digits:{index}", label=str(int(label)), image_id=f"{index:04d}", pixels=image
        )
        for index, (image, label) in enumerate(zip(pixels, digits.target, strict=True))
    ]
    return Source(classes=[str(digit) for digit in range(10)], candidates=candidates)


def fashion_mnist_source(folder: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Source:
    """The four Fashion-MNIST IDX files (``.gz`` or not) in ``folder``, each regular and at most
    ``max_file_bytes`` (once decompressed); the official test images carry
    ``source_split == "test"``."""
    if not folder.is_dir():
        raise DataError(
            f"data.path = {str(folder)!r}: no such folder; it must hold the four Fashion-MNIST IDX "
            f"files (`apt-get install dataset-fashion-mnist` puts them in {DEBIAN_FASHION_MNIST})"
        )
    candidates: list[Candidate] = []
    for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
        images_file, labels_file = _idx_file(folder, images_name), _idx_file(folder, labels_name)
        images = read_idx(images_file, max_file_bytes)
        labels = read_idx(labels_file, max_file_bytes)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{images_file} / {labels_file}: shapes {images.shape} and {labels.shape} "
                "do not match"
            )
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
            raise DataError(f"{labels_file}: labels outside 0..9; is this Fashion-MNIST?")
        source_split = "test" if split == "test" else ""
        candidates += [
            Candidate(
                source=f"{images_file.name}:{index}",
                label=FASHION_MNIST_CLASSES[int(label)],
                image_id=f"{split}-{index:05d}",
                source_split=source_split,
                pixels=image,
            )
            for index, (image, label) in enumerate(zip(images, labels, strict=True))
        ]
    return Source(classes=list(FASHION_MNIST_CLASSES), candidates=candidates)


def read_idx(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> np.ndarray:
    """An IDX file (the MNIST format, optionally gzip-compressed) as a NumPy array.

    Only a regular file is opened, and at most ``max_bytes`` are read (after decompression).
    """
    try:
        reason = unreadable_file_reason(path.stat(), max_bytes)
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if reason:
        raise DataError(f"{path}: {reason}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) > max_bytes:
        raise DataError(
            f"{path}: more than data.max_file_bytes = {max_bytes:,} bytes once decompressed; "
            "raise data.max_file_bytes if this really is the data set"
        )
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: IDX header promises {expected} bytes, file has {len(data)}; truncated?"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def folder_source(root: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Source:
    """``root/<class>/**/<file>``: class = top-level sub-folder, any depth below it.

    Every file found becomes a candidate; files outside class folders, hidden files,
    symlinks that leave ``root``, anything but a regular file (FIFOs, devices, sockets) and
    files over ``max_file_bytes`` are marked so that ingest lists them without reading them.
    """
    if not root.is_dir():
        raise DataError(
            f"data.path = {str(root)!r}: no such folder; it must hold one sub-folder per class"
        )
    real_root = root.resolve()
    classes = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    )
    if len(classes) < 2:
        raise DataError(
            f"data.path = {str(root)!r}: found {len(classes)} class folder(s) {classes}; "
            "a classifier needs at least two sub-folders, one per class"
        )
    candidates = [
        _folder_candidate(root, real_root, path, max_file_bytes) for path in _walk_files(root)
    ]
    populated = {c.label for c in candidates if c.label and not c.ignored}
    empty = [name for name in classes if name not in populated]
    if empty:
        raise DataError(
            f"data.path = {str(root)!r}: class folder(s) {empty} hold no image files; "
            "add images or remove them"
        )
    return Source(classes=classes, candidates=candidates)


def _walk_files(root: Path) -> list[Path]:
    """Every file, symlink and symlinked folder under ``root`` (links are not followed)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder)
        found += [base / name for name in files]
        found += [base / name for name in dirs if (base / name).is_symlink()]
    return sorted(found, key=lambda path: path.as_posix())


def _folder_candidate(root: Path, real_root: Path, path: Path, max_file_bytes: int) -> Candidate:
    relative = path.relative_to(root)
    parts = relative.parts
    label = parts[0] if len(parts) > 1 and not parts[0].startswith(".") else None
    image_id = hashlib.sha256(relative.as_posix().encode("utf-8")).hexdigest()[:16]
    candidate = Candidate(source=str(path), label=label, image_id=image_id, file=path)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(real_root):
            return replace(
                candidate, bad=f"symlink points outside data.path (to {target}); not read"
            )
        if not target.exists():
            return replace(candidate, bad="broken symlink")
        if target.is_dir():
            return replace(candidate, ignored="ignored: symlink to a folder, not followed")
    if label is None:
        return replace(candidate, ignored="ignored: not inside a class folder")
    if any(part.startswith(".") for part in parts):
        return replace(candidate, ignored="ignored: hidden file or folder")
    # stat, not open: opening a FIFO blocks and opening a device can act on it. A symlink
    # here points inside root (checked above), so its target is what would be read.
    try:
        reason = unreadable_file_reason(path.stat(), max_file_bytes)
    except OSError as exc:
        reason = f"cannot read file: {exc.strerror or exc}"
    return replace(candidate, bad=reason) if reason else candidate


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(
        f"data.path = {str(folder)!r}: missing {stem}.gz; it must hold the four "
        "Fashion-MNIST IDX files "
        f"(`apt-get install dataset-fashion-mnist` puts them in {DEBIAN_FASHION_MNIST})"
    )
