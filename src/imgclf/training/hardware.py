"""Settings picked at run time from the machine and the data: ``train.precision: auto``
and ``train.num_threads: auto``.

bf16 autocast pays only where the hardware has bf16 arithmetic: on a small conv net it was
measured 2.3-2.8x faster than float32 on CPUs with AVX-512 BF16 or AMX, and 3.9x slower on
AVX2-only CPUs, which emulate it. The same seed also trains other weights under another
precision, so ``auto`` is for profiles where speed matters more than bit-for-bit results.
"""

from __future__ import annotations

import logging
import os

import torch

from imgclf import numerics

log = logging.getLogger(__name__)

AUTO_THREADS = "auto"
# train.num_threads auto: one thread below this image side, every core from it on. A step on
# an 8x8 digit is too short to share out (one thread, with the loader's worker on the second
# core, trained the digits fastest); from 28 px on, a second core made a step 1.5-2x faster
# (BENCHMARKS.md, "Photos at 64 px").
THREADS_FROM_SIZE = 16


def available_cores() -> int:
    """The cores this process may run on (its affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0))


def resolve_threads(num_threads: int | str, image_size: int) -> int:
    """``train.num_threads`` as a count: ``0`` is every core, ``auto`` one thread for images
    under ``THREADS_FROM_SIZE`` px and every core otherwise.

    The count is part of what decides the bits: reductions split over more threads add in
    another order. ``numerics: portable`` results therefore reproduce on machines that give
    the stage the same count; set a number to pin it.
    """
    if num_threads == AUTO_THREADS:
        return 1 if image_size < THREADS_FROM_SIZE else available_cores()
    return int(num_threads) or available_cores()


def cpu_has_native_bf16() -> bool:
    """True on x86 CPUs with AVX-512 BF16 or AMX tiles (PyTorch's own CPU feature checks)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    # Private helpers of torch.cpu (torch is pinned); a build without them counts as "no".
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def uses_gpu(accelerator: str) -> bool:
    """Whether Lightning's ``accelerator`` setting ends up on a CUDA GPU here."""
    if accelerator in ("gpu", "cuda"):
        return True
    return accelerator == "auto" and torch.cuda.is_available()


def resolve_precision(precision: str, accelerator: str) -> str:
    """``train.precision`` as Lightning takes it: ``auto`` becomes ``bf16-mixed`` where the
    device computes in bf16 natively, ``16-mixed`` on older GPUs, and ``32`` elsewhere (and on
    any CPU under ``numerics: portable``)."""
    if precision != "auto":
        return precision
    if uses_gpu(accelerator):
        chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        device = "this GPU"
    elif numerics.mode_in_effect() == numerics.PORTABLE:
        # bf16 exists on some CPUs only, and trains other weights than float32
        chosen, device = "32", "this CPU under numerics: portable"
    else:
        chosen = "bf16-mixed" if cpu_has_native_bf16() else "32"
        device = f"this CPU ({torch.backends.cpu.get_cpu_capability()})"
    log.info("train.precision auto: %s on %s", chosen, device)
    return chosen
