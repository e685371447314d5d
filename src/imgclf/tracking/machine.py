"""What a run ran on: the CPU and its features, the numerics mode, peak memory, the git
commit. The speed and the bits of a trained model depend on them."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from imgclf import numerics

TAG_NUMERICS = "imgclf.numerics"
TAG_CPU_CAPABILITY = "imgclf.cpu_capability"
# The CPU features that decide which kernels (and so which speed and which bits) run.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit, or ``"uncommitted"`` outside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    return out.stdout.strip()


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """``Intel(R) Xeon(R) Processor (avx2 avx512f avx512_bf16 amx_bf16)``: the model name and
    which of :data:`CPU_FLAGS` it has; ``platform.processor()`` where there is no cpuinfo."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    first_cpu = text.split("\n\n", 1)[0]
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in first_cpu.splitlines())
    }
    name = fields.get("model name", "")
    flags = set(fields.get("flags", "").split())
    return f"{name or platform.machine()} ({' '.join(f for f in CPU_FLAGS if f in flags)})"


def numerics_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """The numerics mode this process runs in (``portable`` when its environment carries
    every pin of :mod:`imgclf.numerics`) and, where torch is loaded, ATen's CPU capability
    (``AVX2``, ``AVX512``, ``DEFAULT``): what decided the bits of this run's results."""
    tags = {TAG_NUMERICS: numerics.mode_in_effect(environ)}
    torch = sys.modules.get("torch")  # the data stages never load it: no capability to tell
    if torch is not None:
        tags[TAG_CPU_CAPABILITY] = str(torch.backends.cpu.get_cpu_capability())
    return tags


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux counts ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
