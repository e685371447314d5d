"""Turn a source into canonical PNGs plus a manifest, accounting for every file found.

Every candidate ends up in exactly one place: a manifest row (a good image), or a
rejected row (a bad image with its reason, or a file listed as ignored). So
``len(manifest) + len(rejected) == len(candidates)`` always holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from imgclf.config import DataConfig
from imgclf.data.images import (
    IMAGE_SUFFIXES,
    BadImageError,
    NotAnImageError,
    Resize,
    canonical_from_array,
    encode_png,
    image_mode,
    load_image,
    pixel_sha256,
)
from imgclf.data.schema import MANIFEST_COLUMNS, REJECTED_COLUMNS
from imgclf.data.sources import Candidate, open_source
from imgclf.errors import DataError

IGNORED_NOT_IMAGE = "ignored: not an image file"
# A pool pays off once decoding outweighs starting it: early for image files (a photo
# takes milliseconds to decode), late for in-memory pixels (microseconds each).
_PARALLEL_FROM = {"files": 200, "pixels": 4000}
_MAX_CHUNK = 2000


@dataclass(frozen=True)
class IngestResult:
    """What ingest produced: manifest rows, class names, and the rejected/ignored files."""

    manifest: pd.DataFrame
    classes: list[str]
    rejected: pd.DataFrame
    bad: int
    ignored: int


@dataclass(frozen=True)
class _Job:
    """What a worker needs to turn a candidate into a canonical PNG."""

    images_dir: Path
    images_prefix: str
    folders: dict[str, str]
    channels: int
    image_size: int
    resize: Resize
    max_pixels: int
    max_file_bytes: int


def ingest(cfg: DataConfig, images_dir: Path, images_prefix: str, workers: int = 1) -> IngestResult:
    """Read ``cfg``'s source, write canonical PNGs under ``images_dir/<class>/``.

    Manifest paths start with ``images_prefix`` (the images folder as the project root sees
    it, e.g. ``data/images``), since ``images_dir`` may be a temporary folder renamed into
    place later. With ``on_bad_image == "fail"`` any bad file raises one
    :class:`DataError` listing every bad file and its reason.
    """
    source = open_source(cfg)
    folders = class_folders(source.classes)
    for folder in folders.values():
        (images_dir / folder).mkdir(parents=True, exist_ok=True)
    job = _Job(
        images_dir,
        images_prefix.rstrip("/"),
        folders,
        cfg.channels,
        cfg.image_size,
        cfg.resize,
        cfg.max_image_pixels,
        cfg.max_file_bytes,
    )
    outcomes = _process_all(source.candidates, job, workers)

    rows = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    rejected = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    bad = [(path, reason) for path, reason in rejected if not reason.startswith("ignored")]
    if bad and cfg.on_bad_image == "fail":
        raise DataError(bad_images_message(bad))

    order = {name: index for index, name in enumerate(source.classes)}
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest = manifest.sort_values(
        ["label", "path"], key=lambda col: col.map(order) if col.name == "label" else col
    ).reset_index(drop=True)
    _check_every_class_has_images(manifest, source.classes)
    rejected_frame = pd.DataFrame(sorted(rejected), columns=REJECTED_COLUMNS)
    return IngestResult(
        manifest, source.classes, rejected_frame, bad=len(bad), ignored=len(rejected) - len(bad)
    )


def class_folders(classes: Sequence[str]) -> dict[str, str]:
    """A safe, unique folder name per class (``T-shirt/top`` -> ``T-shirt_top``)."""
    folders: dict[str, str] = {}
    for index, name in enumerate(classes):
        folder = re.sub(r"[^\w.\-]+", "_", name).strip("._") or f"class_{index}"
        if folder in folders.values():
            folder = f"{folder}-{index}"
        folders[name] = folder
    return folders


def bad_images_message(bad: Sequence[tuple[str, str]]) -> str:
    """One message listing every bad file with its reason."""
    listing = "\n".join(f"  {path}: {reason}" for path, reason in sorted(bad))
    return (
        f"{len(bad)} bad image file(s) in the data source (fix or remove them, or set "
        f"data.on_bad_image: skip to list them in the rejected report and go on):\n{listing}"
    )


def _process_all(
    candidates: list[Candidate], job: _Job, workers: int
) -> list[dict | tuple[str, str]]:
    kind = "pixels" if candidates and candidates[0].pixels is not None else "files"
    if workers <= 1 or len(candidates) < _PARALLEL_FROM[kind]:
        return _process_chunk(candidates, job)
    # Several chunks per worker keep both busy when some files are slower than others.
    size = min(_MAX_CHUNK, max(1, math.ceil(len(candidates) / (4 * workers))))
    chunks = [candidates[start : start + size] for start in range(0, len(candidates), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(_process_chunk, chunks, [job] * len(chunks))
        return [outcome for chunk_result in results for outcome in chunk_result]


def _process_chunk(chunk: list[Candidate], job: _Job) -> list[dict | tuple[str, str]]:
    return [_process(candidate, job) for candidate in chunk]


def _process(candidate: Candidate, job: _Job) -> dict | tuple[str, str]:
    """A manifest row for a good image, else ``(path, reason)`` for the rejected report."""
    if candidate.bad or candidate.ignored:
        return (candidate.source, candidate.bad or candidate.ignored or "")
    try:
        pixels = _canonical(candidate, job)
    except NotAnImageError as exc:
        assert candidate.file is not None
        # A file named like an image is bad input when unreadable; any other file is read
        # only if its content is an allowed format, and otherwise listed as ignored.
        if candidate.file.suffix.lower() not in IMAGE_SUFFIXES:
            return (candidate.source, IGNORED_NOT_IMAGE)
        return (candidate.source, str(exc))
    except BadImageError as exc:
        return (candidate.source, str(exc))
    png = encode_png(pixels)
    relative = f"{job.folders[candidate.label or '']}/{candidate.image_id}.png"
    (job.images_dir / relative).write_bytes(png)
    return {
        "path": f"{job.images_prefix}/{relative}",
        "label": candidate.label,
        "sha256": pixel_sha256(pixels),
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "mode": image_mode(pixels),
        "bytes": len(png),
        "source": candidate.source,
        "source_split": candidate.source_split,
    }


def _canonical(candidate: Candidate, job: _Job) -> np.ndarray:
    if candidate.pixels is not None:
        return canonical_from_array(candidate.pixels, job.channels, job.image_size, job.resize)
    assert candidate.file is not None
    return load_image(
        candidate.file, job.channels, job.image_size, job.resize, job.max_pixels, job.max_file_bytes
    )


def _check_every_class_has_images(manifest: pd.DataFrame, classes: Sequence[str]) -> None:
    counts = manifest["label"].value_counts()
    empty = [name for name in classes if counts.get(name, 0) == 0]
    if empty:
        raise DataError(
            f"class(es) {empty} have no usable images after leaving out bad files; "
            "add images, or remove the class folder(s)"
        )
