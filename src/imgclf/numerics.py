"""The ``numerics`` params key: which CPU code paths decide the bits of a trained model.

PyTorch, oneDNN, MKL, OpenBLAS and NumPy each pick their kernels from the CPU's vector units
when they load, so the same seed gives other weights on a machine with other units.
``portable`` pins every one of them to the AVX2 level that any current x86-64 CPU has, before
they load; ``native`` leaves the environment as the caller set it, and each library takes the
machine's fastest path.

The libraries read these variables once, when they load, so the pins must be in the
environment before the first ``import torch`` (or numpy): the command shims call
:func:`apply_from_command_line` first thing. That is why this module reads the ``numerics`` key
from the params file itself, with nothing but the standard library and yaml, instead of
waiting for :mod:`imgclf.config`; the stage validates the key later, as for every key.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

PORTABLE = "portable"
NATIVE = "native"
# The stages whose outputs carry floating-point results (dvc.yaml lists `numerics` in their params).
MODEL_STAGES = ("tune", "train", "evaluate")
X86_64_MACHINES = ("x86_64", "AMD64")

# What each variable does, from each library's documentation:
# - ATEN_CPU_CAPABILITY: ATen's kernel choice (default | avx2 | avx512); PyTorch's own CI pins
#   it this way (pytorch/pytorch#56992), torch.backends.cpu.get_cpu_capability() reports it.
# - ONEDNN_MAX_CPU_ISA: the newest instruction set oneDNN's JIT may use (SSE41 < AVX < AVX2 <
#   AVX512_CORE ...), oneDNN "CPU Dispatcher Control".
# - MKL_CBWR: oneMKL's conditional numerical reproducibility branch. oneMKL "Specifying Code
#   Branches": "Settings other than AUTO or COMPATIBLE are available only for Intel
#   processors", and an unsupported branch silently falls back to AUTO. So AVX2 would give one
#   result on Intel and another on AMD; COMPATIBLE (SSE2 without rcpps/rsqrtps) is the branch
#   documented to give the same results on Intel and non-Intel CPUs. (STRICT, which adds
#   thread-count independence for ?gemm, exists for the AVX2/AVX512 branches only; the thread
#   count is fixed by train.num_threads instead.)
# - OPENBLAS_CORETYPE: the core type a DYNAMIC_ARCH OpenBLAS (NumPy's and SciPy's wheels: the
#   baseline classifier's linear algebra) uses instead of detecting one.
# - NPY_DISABLE_CPU_FEATURES: NumPy's runtime dispatch ("CPU build options", Runtime dispatch):
#   turns off the AVX-512 targets of NumPy 2.4's x86 dispatch, keeping X86_V3 (AVX2).
PORTABLE_ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def apply(
    mode: str, environ: MutableMapping[str, str] = os.environ, machine: str | None = None
) -> str:
    """Set ``environ`` up for ``mode`` and return the mode in effect.

    ``portable`` on x86-64 overwrites :data:`PORTABLE_ENVIRONMENT`'s variables, whatever the
    caller had set; elsewhere it logs one line and runs as ``native``, which changes nothing.
    """
    if mode != PORTABLE:
        return NATIVE
    machine = platform.machine() if machine is None else machine
    if machine not in X86_64_MACHINES:
        log.warning(
            "numerics: portable promises byte-for-byte results on x86-64 only; this %s CPU "
            "runs as numerics: native",
            machine,
        )
        return NATIVE
    environ.update(PORTABLE_ENVIRONMENT)
    return PORTABLE


def configure_torch(environ: Mapping[str, str] = os.environ) -> None:
    """In portable mode, turn off torch's NNPACK convolutions; call it once torch is imported,
    in every process that trains or scores (spawned tune workers too: the flag, unlike the
    pins, is not inherited).

    NNPACK has no instruction-set cap and picks its blocking from the CPU's caches. oneDNN,
    torch's usual CPU convolution, stays on: at its AVX2 cap the train stage's fit gave the same
    weights on this project's AVX-512 Xeon and on an emulated AMD EPYC (other vendor, units and
    caches; BENCHMARKS.md), and turning it off made portable training 2.9x slower than native
    instead of 1.3x.
    """
    if mode_in_effect(environ) != PORTABLE:
        return
    import torch  # here, not at the top: this module must load before torch (see above)

    torch.backends.nnpack.set_flags(False)


def mode_in_effect(environ: Mapping[str, str] = os.environ) -> str:
    """``portable`` when ``environ`` carries every pin of :data:`PORTABLE_ENVIRONMENT`, else
    ``native``: what this process's libraries run with, for the run's MLflow tag."""
    pinned = all(environ.get(name) == value for name, value in PORTABLE_ENVIRONMENT.items())
    return PORTABLE if pinned else NATIVE


def requested_mode(params_file: str | Path) -> str:
    """The ``numerics`` value of ``params_file`` (``portable`` when the key is absent, as in the
    schema). An unreadable file or a bad value counts as ``native`` here: the stage's own
    params check then stops with the one-line error."""
    try:
        raw = yaml.safe_load(Path(params_file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return NATIVE
    value = raw.get("numerics", PORTABLE) if isinstance(raw, dict) else NATIVE
    return value if value in (PORTABLE, NATIVE) else NATIVE


def params_file_of(argv: Sequence[str]) -> str:
    """The ``--params`` value of a stage's command line (see ``command.base_parser``)."""
    params_file = "params.yaml"
    for index, arg in enumerate(argv):
        if arg == "--params" and index + 1 < len(argv):
            params_file = argv[index + 1]
        elif arg.startswith("--params="):
            params_file = arg.removeprefix("--params=")
    return params_file


def apply_from_command_line(argv: Sequence[str]) -> str:
    """Apply the ``numerics`` mode of the params file a stage's ``argv`` names; call it before
    anything imports torch or numpy. Returns the mode in effect."""
    return apply(requested_mode(params_file_of(argv)))
