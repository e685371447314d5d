"""Turn a source into the image store plus a manifest, accounting for every file found.

Every candidate ends up in exactly one place: a manifest row (a good image, decoded once
into the store's shards), or a rejected row (a bad image with its reason, or a file listed
as ignored). So ``len(manifest) + len(rejected) == len(candidates)`` always holds.

Candidates are put in manifest order (class, then identity) before anything is decoded, and
decoded in blocks that stream into the shards in that order, so ingest holds one shard and a
few blocks of pixels at any number of images.
"""

from __future__ import annotations

import math
import multiprocessing
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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
    image_mode,
    load_image,
    pixel_sha256,
)
from imgclf.data.schema import MANIFEST_COLUMNS, REJECTED_COLUMNS
from imgclf.data.sources import Candidate, open_source
from imgclf.data.store import SHARD_BYTES, ShardWriter
from imgclf.errors import DataError

IGNORED_NOT_IMAGE = "ignored: not an image file"
# A pool pays off once decoding outweighs starting it: early for image files (a photo
# takes milliseconds to decode), late for in-memory pixels (microseconds each).
_PARALLEL_FROM = {"files": 200, "pixels": 4000}
_MAX_CHUNK = 2000
_CHUNK_BYTES = 16 * 1024 * 1024  # decoded pixels a block returns at most
_CHUNKS_AHEAD = 4  # blocks in flight per worker: enough to keep both busy, bounded memory


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
    """What a worker needs to turn a candidate into a canonical image."""

    channels: int
    image_size: int
    resize: Resize
    max_pixels: int
    max_file_bytes: int


# (manifest row without shard and offset, pixels) | (path, reason); a row is a tuple, not a
# dict: ingest holds one per image, and a dict of 9 keys costs 650 bytes more.
Outcome = tuple[tuple, np.ndarray] | tuple[str, str]


def ingest(
    cfg: DataConfig, store_dir: Path, workers: int = 1, shard_bytes: int = SHARD_BYTES
) -> IngestResult:
    """Read ``cfg``'s source and write every good image into the shards of ``store_dir``.

    Manifest rows carry each image's identity (``path``), hash and place in the store
    (``shard``, ``offset``). With ``on_bad_image == "fail"`` any bad file raises one
    :class:`DataError` listing every bad file and its reason.
    """
    source = open_source(cfg)
    folders = class_folders(source.classes)
    order = {name: index for index, name in enumerate(source.classes)}
    candidates = sorted(
        source.candidates,
        key=lambda c: (order.get(c.label or "", -1), _identity(c, folders), c.source),
    )
    job = _Job(cfg.channels, cfg.image_size, cfg.resize, cfg.max_image_pixels,
               cfg.max_file_bytes)  # fmt: skip
    shape = (cfg.image_size, cfg.image_size) + ((3,) if cfg.channels == 3 else ())
    writer = ShardWriter(store_dir, shape, shard_bytes)
    rows: list[tuple] = []
    rejected: list[tuple[str, str]] = []
    for outcome in _process_all(candidates, folders, job, workers):
        if isinstance(outcome[1], np.ndarray):
            row, pixels = outcome
            rows.append((*row, *writer.add(pixels)))
        else:
            rejected.append((str(outcome[0]), str(outcome[1])))
    writer.close()

    bad = [(path, reason) for path, reason in rejected if not reason.startswith("ignored")]
    if bad and cfg.on_bad_image == "fail":
        raise DataError(bad_images_message(bad))
    manifest = pd.DataFrame.from_records(rows, columns=MANIFEST_COLUMNS)
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


def _identity(candidate: Candidate, folders: dict[str, str]) -> str:
    """An image's ``path`` in the manifest: ``<class folder>/<image id>``."""
    return f"{folders.get(candidate.label or '', '')}/{candidate.image_id}"


def _process_all(
    candidates: list[Candidate], folders: dict[str, str], job: _Job, workers: int
) -> Iterator[Outcome]:
    """Each candidate's outcome, in the candidates' order, decoded by ``workers`` processes
    a block at a time, with a bounded number of blocks in flight."""
    kind = "pixels" if candidates and candidates[0].pixels is not None else "files"
    size = _MAX_CHUNK
    if workers > 1:  # several blocks per worker keep both busy when some files are slower
        size = min(size, max(1, math.ceil(len(candidates) / (4 * workers))))
    size = max(1, min(size, _CHUNK_BYTES // (job.image_size**2 * job.channels)))
    chunks = [candidates[start : start + size] for start in range(0, len(candidates), size)]
    if workers <= 1 or len(candidates) < _PARALLEL_FROM[kind]:
        for chunk in chunks:
            yield from _process_chunk(chunk, folders, job)
        return
    # forkserver, not fork: a forked worker's garbage collector touches every object it
    # inherited (the candidate list: kilobytes an image) and so copies those pages.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[list[Outcome]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_process_chunk, chunk, folders, job))
            if len(pending) >= _CHUNKS_AHEAD * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _process_chunk(chunk: list[Candidate], folders: dict[str, str], job: _Job) -> list[Outcome]:
    return [_process(candidate, folders, job) for candidate in chunk]


def _process(candidate: Candidate, folders: dict[str, str], job: _Job) -> Outcome:
    """A manifest row and the canonical pixels for a good image, else ``(path, reason)``."""
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
    row = (  # MANIFEST_COLUMNS up to source_split
        _identity(candidate, folders),
        candidate.label,
        pixel_sha256(pixels),
        pixels.shape[1],
        pixels.shape[0],
        image_mode(pixels),
        pixels.nbytes,
        candidate.source,
        candidate.source_split,
    )
    return row, pixels


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
