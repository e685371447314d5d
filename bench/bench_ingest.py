"""Ingest throughput: one process against a pool of all cores, on the same source.

    .venv/bin/python bench/bench_ingest.py                         # Fashion-MNIST, 70,000 images
    .venv/bin/python bench/bench_ingest.py --source digits
    .venv/bin/python bench/bench_ingest.py --source folder --path photos --image-size 64

Prints, for each side, the wall seconds, images per second and CPU seconds of a full
ingest (read, convert, hash, shard write) into a temporary store, then the ratio. On a
machine shared with other work the wall time varies; the CPU seconds much less. The issue's target:
Fashion-MNIST's 70,000 images in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from imgclf.config import DataConfig
from imgclf.data.ingest import ingest
from imgclf.data.sources import DEBIAN_FASHION_MNIST, open_source


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_ingest(cfg: DataConfig, workers: int) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds of one full ingest with ``workers`` processes, and the
    number of images written."""
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "images"
        store.mkdir()
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = ingest(cfg, store, workers=workers)
        return time.perf_counter() - start, cpu_seconds() - start_cpu, len(result.manifest)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", default="fashion-mnist", choices=["digits", "fashion-mnist", "folder"]
    )
    parser.add_argument(
        "--path", default=None, help=f"data.path (fashion-mnist default: {DEBIAN_FASHION_MNIST})"
    )
    parser.add_argument(
        "--image-size", type=int, default=None, help="data.image_size (default: the source's own)"
    )
    parser.add_argument("--channels", type=int, default=1, choices=[1, 3])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip-serial", action="store_true", help="time only the pool")
    args = parser.parse_args()

    native = {"digits": 8, "fashion-mnist": 28, "folder": 32}[args.source]
    path = args.path or (DEBIAN_FASHION_MNIST if args.source == "fashion-mnist" else "data/raw")
    cfg = DataConfig(
        source=args.source, path=path, channels=args.channels, image_size=args.image_size or native
    )
    open_source(cfg)  # warm-up: imports and the OS file cache, paid by neither side
    sides = [] if args.skip_serial else [1]
    sides.append(args.workers)
    timings = {}
    for workers in sides:
        seconds, cpu, images = timed_ingest(cfg, workers)
        timings[workers] = seconds
        rate = images / seconds
        side = f"{args.source}: {images} images, {workers} worker(s)"
        print(f"{side}: {seconds:.2f} s, {rate:,.0f} images/s ({cpu:.1f} CPU s)")
    if len(timings) == 2:
        print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
