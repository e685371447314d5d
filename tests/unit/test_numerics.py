"""``numerics: portable`` pins the CPU code paths itself, whatever the caller's environment
says, so a model trained in portable mode has the same bits under any caller; ``native``
leaves the caller's environment alone."""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgclf import numerics
from imgclf.evaluation.onnx_check import parity_bound
from imgclf.numerics import PORTABLE_ENVIRONMENT
from imgclf.training import hardware

REPO = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-x86_64")


def test_portable_sets_the_avx2_pins_over_what_the_caller_set() -> None:
    environ = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "HOME": "/h"}
    assert numerics.apply("portable", environ, machine="x86_64") == "portable"
    assert environ == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "HOME": "/h",
    }
    assert numerics.mode_in_effect(environ) == "portable"


def test_native_leaves_the_callers_environment_as_it_is() -> None:
    environ = {"ATEN_CPU_CAPABILITY": "default", "HOME": "/h"}
    assert numerics.apply("native", environ, machine="x86_64") == "native"
    assert environ == {"ATEN_CPU_CAPABILITY": "default", "HOME": "/h"}
    assert numerics.mode_in_effect(environ) == "native"


def test_portable_off_x86_64_says_so_in_one_line_and_runs_native(monkeypatch, caplog) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    environ = {"HOME": "/h"}
    with caplog.at_level(logging.INFO, logger="imgclf"):
        assert numerics.apply("portable", environ) == "native"
    assert environ == {"HOME": "/h"}
    (record,) = caplog.records
    assert "x86-64 only" in record.getMessage() and "\n" not in record.getMessage()


def test_the_mode_comes_from_the_params_file_the_command_line_names(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("seed: 1\nnumerics: native\n")
    assert numerics.requested_mode(numerics.params_file_of(["--params", str(params)])) == "native"
    assert numerics.requested_mode(numerics.params_file_of([f"--params={params}"])) == "native"
    params.write_text("seed: 1\n")  # the key left out means the schema's default
    assert numerics.requested_mode(params) == "portable"
    assert numerics.params_file_of(["--splits", "data/splits"]) == "params.yaml"


# A few AdamW steps of a tiny conv net: the conv goes through oneDNN, the linear layer through
# MKL's sgemm, the activations through ATen's vectorised kernels, the paths whose ISA caps
# each changed the weights' bits in issue 14's probe, and the update through the stages'
# fused AdamW. As in a stage: pins before torch loads, torch's flags once it has.
TINY_TRAINING = """
import hashlib, sys, tempfile
from pathlib import Path
from imgclf import numerics
mode = numerics.apply_from_command_line(sys.argv[1:])
import torch
numerics.configure_torch()
torch.manual_seed(0)
torch.set_num_threads(1)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
    torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64 * 4 * 4, 10),
)
from imgclf.config import TrainConfig
from imgclf.training.optim import build_optimizer
optimizer = build_optimizer(net.parameters(), TrainConfig(lr=0.01))  # the stages' AdamW
images, labels = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
for _ in range(5):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(net(images), labels).backward()
    optimizer.step()
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters()))
onednn = "onednn" if torch.backends.mkldnn.enabled else "aten-conv"
# The train stage's ONNX export of the same net: the file must not depend on the CPU either.
from imgclf.models.spec import ModelSpec
from imgclf.serving.onnx_export import export_onnx
spec = ModelSpec("cnn", 64, 1, 0.0, 1, 10, 8, tuple("0123456789"), (0.5,), (0.25,))
onnx_file = export_onnx(net.eval(), spec, Path(tempfile.mkdtemp()) / "model.onnx")
onnx_digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
print(mode, torch.backends.cpu.get_cpu_capability(), onednn, digest.hexdigest(), onnx_digest)
"""


def train_tiny_net(
    params: Path, caller_env: dict[str, str], emulated_cpu: str | None = None
) -> tuple[str, ...]:
    """(mode in effect, ATen capability, convolution path, sha256 of the weights, sha256 of
    their ONNX export) of the tiny training, run in a fresh process whose caller environment
    adds ``caller_env`` to a clean one; with ``emulated_cpu``, on that CPU model of QEMU's
    user-mode emulator."""
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    emulator = [QEMU, "-cpu", emulated_cpu] if emulated_cpu else []
    out = subprocess.run(
        [*emulator, sys.executable, "-c", TINY_TRAINING, "--params", str(params)],
        env={**env, **caller_env}, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return tuple(out.stdout.split())


@pytest.mark.slow  # three fresh processes that import torch
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 pins")
def test_portable_training_has_the_same_weights_whatever_caps_the_caller_set(
    tmp_path: Path,
) -> None:
    """The caller's caps (ATen's scalar kernels, oneDNN at SSE4.1, MKL's own AVX2 branch)
    change nothing in portable mode, and in native mode the same caps change the weights.

    Portable is not native-without-caps even on an AVX2-only CPU (this one): MKL's portable
    branch is COMPATIBLE (SSE2), the one oneMKL documents as equal on Intel and AMD CPUs, so
    native's matrix products take other paths on every machine.
    """
    portable, native = tmp_path / "portable.yaml", tmp_path / "native.yaml"
    portable.write_text("numerics: portable\n")
    native.write_text("numerics: native\n")
    caps = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "AVX2"}

    uncapped = train_tiny_net(portable, {})
    assert uncapped[:3] == ("portable", "AVX2", "onednn")
    assert train_tiny_net(portable, caps) == uncapped

    capped_native = train_tiny_net(native, caps)
    assert capped_native[:3] == ("native", "DEFAULT", "onednn")
    assert capped_native[3] != uncapped[3]


@pytest.mark.slow  # torch under an emulated CPU: about a minute
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 (Debian's qemu-user) emulates the other CPU")
@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 pins")
@pytest.mark.parametrize("other_cpu", ["EPYC-Rome", "Haswell"])
def test_portable_training_has_the_same_weights_on_another_cpu(tmp_path: Path, other_cpu) -> None:
    """The cross-machine promise itself: the same training on this CPU and on an emulated
    AVX2-only one (an AMD EPYC, an Intel Haswell: other vendor, vector units and caches)
    gives the same bits in portable mode.

    QEMU computes floating point in software to IEEE rules, so only what depends on the CPU
    itself (kernel choice by cpuid, blocking by cache size, approximate instructions) can make
    the two differ; that is what the test is for. It caught MKL's vector sqrt in AdamW's
    per-tensor update, whose result differed between this CPU and the emulated ones even under
    MKL_CBWR=COMPATIBLE, and the ONNX export's constant folding, which folded each
    BatchNorm into its convolution with that square root: the same weights were written as
    other bytes (with 64 channels; with 8 the folded values happened to agree).
    """
    portable = tmp_path / "portable.yaml"
    portable.write_text("numerics: portable\n")
    here = train_tiny_net(portable, {})
    assert train_tiny_net(portable, {}, emulated_cpu=other_cpu) == here


def test_precision_auto_stays_float32_on_a_bf16_cpu_under_portable(monkeypatch) -> None:
    """bf16 exists on some CPUs only and trains other weights: portable never picks it."""
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    for name, value in PORTABLE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    assert hardware.resolve_precision("auto", "cpu") == "32"
    monkeypatch.delenv("MKL_CBWR")  # one pin missing: native
    assert hardware.resolve_precision("auto", "cpu") == "bf16-mixed"


def test_the_onnx_figure_in_metrics_is_the_power_of_ten_it_stays_under() -> None:
    """onnxruntime's CPU-specific kernels move the exact difference between machines (1.7e-7
    on an AVX2 EPYC, 2.8e-7 on an AVX-512 Xeon); the recorded bound is the same on both."""
    assert parity_bound(1.7136e-07) == parity_bound(2.8312e-07) == pytest.approx(1e-6)
    assert parity_bound(1e-6) == pytest.approx(1e-6)
    assert parity_bound(0.0) == 0.0
