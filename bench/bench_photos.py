"""Photos at 64 px with only ``data.*`` changed: the whole DAG's accuracy against its wall time,
the study's share of it, and a plain PyTorch loop trained on the same split.

    .venv/bin/python -m bench.bench_photos                          # make bench-photos
    .venv/bin/python -m bench.bench_photos --reference-epochs 0     # the DAG only
    .venv/bin/python -m bench.bench_photos --rev 899e269            # the defaults of a commit

A photo-like folder (bench/photo_folder.py: 3,000 images of 64 px, 10 classes, objects at
random places and sizes among clutter) becomes ``data.source: folder`` in a fresh copy of the
repository (``--rev``: of that commit, through ``git worktree``), whose params keep every
default but ``data.*``. Then ``dvc repro --force -s STAGE`` for each stage in order, timed.
Prints each stage's wall and CPU seconds, the DAG's total and the study's share, the test
accuracy,
the baseline's and the paired test's p-value from ``metrics.json``, and the CPU time the
hypervisor took from this machine meanwhile (``steal`` in /proc/stat), which slows every
figure in proportion.

Then the reference: the recipe a plain PyTorch loop reached 0.84 with on a team's photos
(7 conv-BN-ReLU layers and global average pooling, AdamW at 3e-3 with a one-cycle schedule,
horizontal flip and a 4-pixel reflect-padded random crop, label smoothing 0.1, batch 64, every
core, 30 epochs), trained on the project's own train split, scored on its test split.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.bench_scale import STAGES, photo_folder, stage_env
from imgclf.tracking import cpu_description
from tests.support.project_copy import REPO, copy_repository, set_params

CLASSES = 10


@dataclass
class CpuTimes:
    """/proc/stat's first line: jiffies of work and of steal, summed over the cores."""

    busy: int
    steal: int

    @classmethod
    def now(cls) -> CpuTimes:
        fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return cls(busy=user + nice + system + irq + softirq, steal=steal)

    def steal_share_since(self, start: CpuTimes) -> float:
        """The share of the machine's non-idle time the hypervisor took since ``start``."""
        steal = self.steal - start.steal
        total = steal + self.busy - start.busy
        return steal / total if total else 0.0


def make_project(workdir: Path, photos: Path, rev: str | None) -> Path:
    """A copy of the working tree, or of commit ``rev``, reading ``photos``; only ``data.*``
    changed."""
    project = workdir / f"project-{rev or 'worktree'}"
    if project.exists():
        if rev is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(project)], cwd=REPO)
        shutil.rmtree(project, ignore_errors=True)
    if rev is None:
        project.mkdir(parents=True)
        copy_repository(project)
    else:
        subprocess.run(["git", "worktree", "add", "--detach", str(project), rev], cwd=REPO,
                       check=True, capture_output=True)  # fmt: skip
    data = {"source": "folder", "path": str(photos), "channels": 3, "image_size": 64}
    set_params(project, {"data": data})
    return project


def children_cpu_s() -> float:
    """User + system CPU seconds of every finished child process and its descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_dag(project: Path, logs: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Every stage in order; returns each stage's wall seconds and CPU seconds (dvc's own
    included). No memory sampler: on 2 cores its 50 ms polls took 15% of one."""
    dvc = Path(sys.executable).parent / "dvc"
    seconds, cpu = {}, {}
    print(f"{'stage':<10} {'wall s':>8} {'CPU s':>8}")
    for stage in STAGES:
        log = logs / f"{stage}.log"
        start, start_cpu = time.perf_counter(), children_cpu_s()
        with log.open("w") as output:
            done = subprocess.run(
                [str(dvc), "repro", "--force", "-s", stage], cwd=project, env=stage_env(project),
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        seconds[stage] = time.perf_counter() - start
        cpu[stage] = children_cpu_s() - start_cpu
        if done.returncode != 0:
            raise SystemExit(f"error: dvc repro -s {stage} failed; log {log}")
        print(f"{stage:<10} {seconds[stage]:8.1f} {cpu[stage]:8.1f}", flush=True)
    return seconds, cpu


def reference_loop(project: Path, epochs: int) -> tuple[float, float]:
    """The plain loop's test accuracy and wall seconds on ``project``'s splits."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from imgclf.data.schema import read_classes, read_split
    from imgclf.data.split_reader import load_split_images

    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    classes = read_classes(project / "data/classes.json")

    def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        frame = read_split(project / f"data/splits/{split}.csv")
        images = load_split_images(frame, classes, split, project / "data/images")
        pixels = torch.from_numpy(np.asarray(images.images[: len(images.images)]))
        return pixels.permute(0, 3, 1, 2).float().div(255), torch.from_numpy(images.labels)

    start = time.perf_counter()
    train_x, train_y = tensors("train")
    test_x, test_y = tensors("test")
    mean, std = train_x.mean((0, 2, 3), keepdim=True), train_x.std((0, 2, 3), keepdim=True)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    net = nn.Sequential(
        *block(3, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
        *block(64, 128), *block(128, 128), nn.MaxPool2d(2), *block(128, 256), *block(256, 256),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, len(classes)),
    )  # fmt: skip
    batch, size = 64, train_x.shape[-1]
    steps = epochs * (len(train_x) // batch)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(train_x))
        for step in range(len(train_x) // batch):
            rows = order[step * batch : (step + 1) * batch]
            x = train_x[rows]
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(3), x)
            x = F.pad(x, (4, 4, 4, 4), mode="reflect")
            dx, dy = torch.randint(0, 9, (2,)).tolist()
            x = x[:, :, dy : dy + size, dx : dx + size]
            optimizer.zero_grad()
            F.cross_entropy(net(x), train_y[rows], label_smoothing=0.1).backward()
            optimizer.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        predicted = torch.cat([net(part).argmax(1) for part in test_x.split(256)])
    return float((predicted == test_y).float().mean()), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--rev", help="run the DAG of this commit instead of the working tree")
    parser.add_argument("--reference-epochs", type=int, default=30, help="0: no reference")
    parser.add_argument("--no-dag", dest="dag", action="store_false", help="the reference only")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="imgclf-bench-photos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    photos = photo_folder(workdir, args.images, 64)
    project = make_project(workdir, photos, args.rev)
    logs = workdir / f"logs-{args.rev or 'worktree'}"
    logs.mkdir(exist_ok=True)
    print(f"{cpu_description()}, {len(os.sched_getaffinity(0))} cores, {args.rev or 'worktree'}")
    print(f"{args.images} photos of 64 px, project {project}, logs {logs}")
    if args.dag:
        before = CpuTimes.now()
        seconds, cpu = run_dag(project, logs)
        total, total_cpu = sum(seconds.values()), sum(cpu.values())
        metrics = json.loads((project / "metrics.json").read_text())
        print(
            f"DAG {total / 60:.1f} min wall, {total_cpu / 60:.1f} min CPU; study "
            f"{seconds['tune'] / total:.0%} of the wall time, train "
            f"{seconds['train'] / total:.0%}; "
            f"steal {CpuTimes.now().steal_share_since(before):.0%}"
        )
        print(
            f"test accuracy {metrics['accuracy']:.4f}, baseline "
            f"{metrics.get('baseline_accuracy', float('nan')):.4f}, paired p-value "
            f"{metrics.get('baseline_p_value', float('nan')):.2g}"
        )
    if args.reference_epochs:
        before = CpuTimes.now()
        accuracy, wall = reference_loop(project, args.reference_epochs)
        print(
            f"reference loop, {args.reference_epochs} epochs: test accuracy {accuracy:.4f} in "
            f"{wall / 60:.1f} min; steal {CpuTimes.now().steal_share_since(before):.0%}"
        )


if __name__ == "__main__":
    main()
