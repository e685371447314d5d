"""What ``numerics: portable`` costs against ``native``: the same training in fresh processes.

Each run is a new Python process that applies the mode (``imgclf.numerics.apply``) before it
imports torch, and torch's convolution flags after, as the stages do, then trains the params'
network (``model.*``: the default cnn, or the Fashion-MNIST profile's) with a plain AdamW loop
on the real images, no augmentation, for ``--epochs``. The clock covers the training loop
only (not torch's import). Modes alternate, and each side's fastest of ``--repeats`` runs is
kept: on a busy machine other processes can slow either side. Prints the CPU, each side's
wall and CPU seconds and images/s, whether the two sides' weights are bit-identical, and the
ratio.

    .venv/bin/python bench/bench_numerics.py --repeats 3                       # the digits
    .venv/bin/python bench/bench_numerics.py --data fashion-mnist --train-images 6000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imgclf import numerics
from imgclf.tracking import cpu_description

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_images(data: str, train_images: int) -> tuple[np.ndarray, np.ndarray]:
    """Float images in [0, 1] shaped (n, 1, size, size) and their integer labels."""
    if data == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.images / 16.0).astype(np.float32)[:, None], digits.target
    with gzip.open(FASHION_DIR / "train-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(FASHION_DIR / "train-labels-idx1-ubyte.gz") as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    return (images[:train_images] / 255.0).astype(np.float32), labels[:train_images].astype(int)


def child(mode: str, data: str, epochs: int, train_images: int, threads: int) -> None:
    in_effect = numerics.apply(mode)
    import torch

    numerics.configure_torch()  # portable: NNPACK off, as in fit()

    from imgclf.config import load_params, with_overrides
    from imgclf.models.spec import ModelSpec
    from imgclf.training.fit import resolved_depth, resolved_width
    from imgclf.training.network import initial_network

    params = load_params("params.yaml")
    batch = params.train.batch_size
    if data == "fashion-mnist":
        batch = 128
        params = with_overrides(params, {"model.dropout": 0.1})
    images, labels = load_images(data, train_images)
    size = images.shape[-1]
    spec = ModelSpec(
        arch=params.model.name, width=resolved_width(params.model, size),
        depth=resolved_depth(params.model, size), dropout=params.model.dropout,
        in_channels=1, num_classes=10, image_size=size,
        class_names=tuple(map(str, range(10))), mean=(0.5,), std=(0.25,),
    )  # fmt: skip
    torch.manual_seed(params.seed)
    torch.set_num_threads(threads)
    net = initial_network(spec, params.model)
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.train.lr)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                net(x[start : start + batch]), y[start : start + batch]
            )
            loss.backward()
            optimizer.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters()))
    print(json.dumps({
        "mode": in_effect, "capability": torch.backends.cpu.get_cpu_capability(),
        "wall": wall, "cpu": cpu, "images": len(x) * epochs, "sha256": digest.hexdigest(),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["digits", "fashion-mnist"], default="digits")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=6000, help="fashion-mnist only")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=1)
    modes = [numerics.PORTABLE, numerics.NATIVE]
    parser.add_argument("--child", choices=modes, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.epochs, args.train_images, args.threads)
        return
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for mode in (numerics.PORTABLE, numerics.NATIVE):
            command = [sys.executable, __file__, "--child", mode, "--data", args.data,
                       "--epochs", str(args.epochs), "--train-images", str(args.train_images),
                       "--threads", str(args.threads)]  # fmt: skip
            result = json.loads(subprocess.run(command, capture_output=True, text=True,
                                               check=True).stdout.splitlines()[-1])  # fmt: skip
            if mode not in best or result["wall"] < best[mode]["wall"]:
                best[mode] = result
    portable, native = best[numerics.PORTABLE], best[numerics.NATIVE]
    print(f"{args.data}: {portable['images'] // args.epochs} train images, {args.epochs} epochs, "
          f"{args.threads} thread(s), fastest of {args.repeats}")  # fmt: skip
    print(f"CPU {cpu_description()}")
    print(f"{'':22}{'ATen':>8}{'wall s':>9}{'CPU s':>8}{'images/s':>10}")
    for name, run in (("numerics: portable", portable), ("numerics: native", native)):
        rate = run["images"] / run["wall"]
        print(f"{name:22}{run['capability']:>8}{run['wall']:9.2f}{run['cpu']:8.2f}{rate:10.0f}")
    same = "bit-identical" if portable["sha256"] == native["sha256"] else "different"
    print(f"weights of the two sides: {same}")
    print(f"portable / native wall time: {portable['wall'] / native['wall']:.2f}x, "
          f"CPU time: {portable['cpu'] / native['cpu']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
