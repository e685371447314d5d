"""Reading canonical PNGs back: OpenCV's libpng (the pipeline's reader until the image store)
against Pillow, the reader it replaced, on the same files.

The pipeline no longer decodes canonical PNGs: ingest writes the image store
(:mod:`imgclf.data.store`) and the later stages read its shards. This benchmark keeps the
figures of ``BENCHMARKS.md`` (repeated decoding) reproducible: it ingests a source into a
temporary store as the ingest stage does, writes each stored image out as the canonical PNG
ingest used to write (``encode_png``), then reads every one with each reader in turn
(``--repeats`` alternating rounds, fastest counts), checks that both give the same arrays, and
prints both sides' seconds, microseconds a file and the ratio.

    .venv/bin/python bench/bench_decode.py                       # Fashion-MNIST, 70,000 PNGs
    .venv/bin/python bench/bench_decode.py --source digits
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from imgclf.config import DataConfig
from imgclf.data.images import encode_png
from imgclf.data.ingest import ingest
from imgclf.data.sources import DEBIAN_FASHION_MNIST
from imgclf.data.store import StoreImages, images_per_chunk
from imgclf.tracking import cpu_description


def opencv_read(path: str) -> np.ndarray:
    """The canonical reader before the image store (``read_image``): OpenCV's libpng, RGB
    order."""
    import cv2

    pixels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise SystemExit(f"{path}: OpenCV cannot decode it")
    return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) if pixels.ndim == 3 else pixels)


def pillow_read(path: str) -> np.ndarray:
    """The canonical reader before OpenCV: Pillow, PNG only, fully decoded."""
    with Image.open(path, formats=["PNG"]) as image:
        image.load()
        return np.asarray(image, dtype=np.uint8)


def canonical_pngs(cfg: DataConfig, scratch: Path) -> list[str]:
    """Ingest ``cfg``'s source into a store in ``scratch``, then write every stored image as
    a canonical PNG beside it; returns the PNGs' paths in manifest order."""
    store, pngs = scratch / "images", scratch / "png"
    store.mkdir()
    pngs.mkdir()
    images = StoreImages.of_rows(ingest(cfg, store).manifest, store)
    paths = []
    for start, block in images.chunks(images_per_chunk(images.shape[1:])):
        for offset, pixels in enumerate(block):
            path = pngs / f"{start + offset:06d}.png"
            path.write_bytes(encode_png(pixels))
            paths.append(str(path))
    return paths


def timed(reader: Callable[[str], np.ndarray], paths: list[str]) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    arrays = [reader(path) for path in paths]
    return time.perf_counter() - start, arrays


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", default="fashion-mnist", choices=["digits", "fashion-mnist"])
    parser.add_argument("--path", default=DEBIAN_FASHION_MNIST, help="Fashion-MNIST IDX files")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    if args.source == "fashion-mnist" and not Path(args.path).is_dir():
        raise SystemExit(f"{args.path}: no such folder; apt-get install dataset-fashion-mnist")
    size = 8 if args.source == "digits" else 28
    cfg = DataConfig(source=args.source, path=args.path, image_size=size)
    with tempfile.TemporaryDirectory() as scratch:
        paths = canonical_pngs(cfg, Path(scratch))
        best = {"Pillow": float("inf"), "read_image (OpenCV)": float("inf")}
        for _ in range(args.repeats):
            pillow_s, expected = timed(pillow_read, paths)
            opencv_s, got = timed(opencv_read, paths)
            if not all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True)):
                raise SystemExit("the two readers disagree")
            best["Pillow"] = min(best["Pillow"], pillow_s)
            best["read_image (OpenCV)"] = min(best["read_image (OpenCV)"], opencv_s)
    print(f"{args.source}: {len(paths)} canonical PNGs of {cfg.image_size}px, fastest of "
          f"{args.repeats}; CPU {cpu_description()}")  # fmt: skip
    for name, seconds in best.items():
        print(f"{name:<22}{seconds:7.2f} s  {seconds / len(paths) * 1e6:6.0f} us a file")
    print(f"Pillow / read_image wall time: {best['Pillow'] / best['read_image (OpenCV)']:.2f}x")


if __name__ == "__main__":
    main()
