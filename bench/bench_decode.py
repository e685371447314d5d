"""Reading a split's images: batches from the image store against decoding one canonical PNG
per image with OpenCV (how tune, train and evaluate read their splits before the store).

It ingests a source into a temporary store as the ingest stage does, writes every stored
image out as the canonical PNG ingest used to write (``encode_png``), then reads every image
in a seeded shuffled order, in batches of 64, both ways in turn (``--repeats`` alternating
rounds, fastest counts): ``StoreImages[batch]`` from the memory-mapped shards (warm page
cache), and one ``cv2.imdecode`` per file (warm page cache too). It checks that both give the
same arrays and prints both sides' seconds, microseconds an image and the ratio.

    .venv/bin/python bench/bench_decode.py                       # Fashion-MNIST, 70,000 images
    .venv/bin/python bench/bench_decode.py --source digits
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

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


def canonical_pngs(cfg: DataConfig, scratch: Path) -> tuple[StoreImages, list[str]]:
    """Ingest ``cfg``'s source into a store in ``scratch``, then write every stored image as
    a canonical PNG beside it; returns the store and the PNGs' paths in manifest order."""
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
    return images, paths


def timed(
    read: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray]
) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    arrays = [read(batch) for batch in batches]
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
        store, paths = canonical_pngs(cfg, Path(scratch))
        order = np.random.default_rng(0).permutation(len(paths))
        batches = [order[start : start + 64] for start in range(0, len(order), 64)]
        sides = {
            "image store": lambda batch: store[batch],
            "PNG decode (OpenCV)": lambda batch: np.stack([opencv_read(paths[i]) for i in batch]),
        }
        best = dict.fromkeys(sides, float("inf"))
        for _ in range(args.repeats):
            results = {}
            for name, read in sides.items():
                seconds, results[name] = timed(read, batches)
                best[name] = min(best[name], seconds)
            if not all(np.array_equal(*pair) for pair in zip(*results.values(), strict=True)):
                raise SystemExit("the two readers disagree")
    print(f"{args.source}: {len(paths)} images of {cfg.image_size}px in shuffled batches of 64, "
          f"fastest of {args.repeats}; CPU {cpu_description()}")  # fmt: skip
    for name, seconds in best.items():
        print(f"{name:<22}{seconds:7.2f} s  {seconds / len(paths) * 1e6:6.1f} us an image")
    ratio = best["PNG decode (OpenCV)"] / best["image store"]
    print(f"PNG decode / image store wall time: {ratio:.1f}x")


if __name__ == "__main__":
    main()
