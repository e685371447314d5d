"""How the pipeline scales with the number of images: every stage at N and at 4N images.

    .venv/bin/python -m bench.bench_scale --images 10000 --size 64      # make bench-scale
    .venv/bin/python -m bench.bench_scale --images 300 --size 32 --no-4x --keep

For each size of data set: a photo-like folder (bench/photo_folder.py, 10 classes, half PNG
half JPEG) as ``data.source: folder``, a fresh copy of the repository, and the smallest
training params (one trial of one epoch, one epoch of training, model.width 8), then
``dvc repro --force -s STAGE`` for each stage in order under the memory sampler
(bench/process_memory.py). Prints, per stage, the wall seconds and the peak anonymous memory
of the stage's process tree (the stage and its workers, not dvc itself), as RssAnon summed
and as Pss_Anon summed (pages a forked worker shares with its parent counted once); then the
number of objects in the DVC cache and of files in the image store, the wall seconds of a
second ``dvc status`` on the unchanged project, and of ``dvc push`` to an empty local remote
and ``dvc pull`` back into an empty cache. Last, each figure at N and 4N side by side with its
ratio: 4.0 is linear, 1.0 does not grow with the data.

``--stages ingest`` measures only ingest and DVC's side (for 10^5+ images, where training one
epoch is not what is measured).

Generated folders are cached in --workdir (one per image count and size), so a rerun with
the same --workdir skips generating them; the projects are removed unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.photo_folder import write_photo_folder
from bench.process_memory import MeasuredRun, peak_anonymous_memory
from imgclf.tracking import cpu_description
from tests.support.project_copy import REPO, copy_repository, git_env, set_params

STAGES = ["ingest", "validate", "split", "augment", "tune", "train", "evaluate"]
CLASSES = 10
MIB = 2**20

# Only what makes each stage as short as it can be; the data keys come from the run.
SMALLEST_TRAINING: dict[str, dict[str, object]] = {
    "model": {"width": 8},
    "train": {"batch_size": 16, "max_epochs": 1},
    "tune": {
        "n_trials": 1,
        "max_epochs": 1,
        "space": {"train.lr": {"type": "categorical", "choices": [0.003]}},
    },
    "evaluate": {"baseline": True},
}


@dataclass
class ScaleRun:
    """The figures of one data set size."""

    images: int
    stages: dict[str, MeasuredRun] = field(default_factory=dict)
    cache_objects: int = 0
    store_files: int = 0
    status_s: float = 0.0
    push_s: float = 0.0
    pull_s: float = 0.0

    def figures(self) -> dict[str, float]:
        """Every figure by its printed name, for the side-by-side table."""
        rows: dict[str, float] = {}
        for stage, run in self.stages.items():
            rows[f"{stage} wall s"] = run.wall_s
            rows[f"{stage} RssAnon MiB"] = run.peak_anonymous_bytes / MIB
            rows[f"{stage} Pss_Anon MiB"] = run.peak_proportional_bytes / MIB
        rows["all stages wall s"] = sum(run.wall_s for run in self.stages.values())
        rows["DVC cache objects"] = self.cache_objects
        rows["files in data/images"] = self.store_files
        rows["dvc status (2nd) wall s"] = self.status_s
        rows["dvc push wall s"] = self.push_s
        rows["dvc pull wall s"] = self.pull_s
        return rows


def photo_folder(workdir: Path, images: int, size: int) -> Path:
    """The generated folder for ``images`` x ``size`` px, written unless a finished one is
    already in ``workdir`` (the marker file is written last)."""
    folder = workdir / f"photos-{images}x{size}px"
    finished = folder.with_suffix(".done")
    if not finished.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {images} images of {size} px in {folder} ...", flush=True)
        write_photo_folder(folder, images, size, classes=CLASSES)
        finished.touch()
    return folder


def make_project(workdir: Path, photos: Path, size: int) -> Path:
    """A fresh copy of the repository (git and DVC initialised) reading ``photos``."""
    project = workdir / f"project-{photos.name}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    copy_repository(project)
    if not (project / ".dvc").is_dir():
        subprocess.run(["dvc", "init", "-q"], cwd=project, env=stage_env(project), check=True)
    data = {"source": "folder", "path": str(photos), "channels": 3, "image_size": size}
    set_params(project, {"data": data, **SMALLEST_TRAINING})
    return project


def stage_env(project: Path) -> dict[str, str]:
    """The venv first on PATH (the stages run ``python -m pipelines.<stage>``), the project's
    own MLflow store, and the local Optuna study whatever this shell says."""
    env = {
        **git_env(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "CI": "true",  # no progress bars in the logs
    }
    env.pop("IMGCLF_OPTUNA_STORAGE", None)
    return env


def measured_dvc(project: Path, log: Path, *args: str) -> MeasuredRun:
    """``dvc ARGS`` in ``project`` under the memory sampler; output to ``log``. Exits with the
    log's tail when dvc fails."""
    dvc = Path(sys.executable).parent / "dvc"
    with log.open("w") as output:
        run = peak_anonymous_memory(
            [str(dvc), *args], project, stage_env(project), output, count_root=False
        )
    if run.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"error: dvc {' '.join(args)} failed in {project} (log {log}):\n{tail}")
    return run


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def run_scale(workdir: Path, images: int, size: int, stages: list[str]) -> ScaleRun:
    """Generate (or reuse) the folder, copy the project, run and measure every stage."""
    project = make_project(workdir, photo_folder(workdir, images, size), size)
    logs = workdir / f"logs-{images}x{size}px"
    logs.mkdir(exist_ok=True)
    result = ScaleRun(images)
    print(f"\n{images} images of {size} px, project {project}, logs {logs}")
    print(f"{'stage':<10} {'wall s':>8} {'RssAnon MiB':>12} {'Pss_Anon MiB':>13}")
    for stage in stages:
        # --force: the copy's dvc.lock and committed outputs would let DVC skip a stage
        # whose inputs did not change (augment's), and every stage is to be measured.
        run = measured_dvc(project, logs / f"{stage}.log", "repro", "--force", "-s", stage)
        result.stages[stage] = run
        print(
            f"{stage:<10} {run.wall_s:8.1f} {run.peak_anonymous_bytes / MIB:12.1f} "
            f"{run.peak_proportional_bytes / MIB:13.1f}",
            flush=True,
        )

    result.cache_objects = count_files(project / ".dvc" / "cache" / "files" / "md5")
    result.store_files = count_files(project / "data" / "images")
    measured_dvc(project, logs / "status-1.log", "status")
    status = measured_dvc(project, logs / "status-2.log", "status")
    result.status_s = status.wall_s
    said = ((logs / "status-2.log").read_text().strip().splitlines() or ["(no output)"])[-1]
    print(f"DVC cache objects {result.cache_objects}, files in data/images {result.store_files}")
    print(f"dvc status (second run) {status.wall_s:.2f} s: {said}")
    remote = workdir / f"remote-{images}x{size}px"
    shutil.rmtree(remote, ignore_errors=True)
    measured_dvc(project, logs / "remote.log", "remote", "add", "-f", "-d", "bench", str(remote))
    # The outputs of the stages that ran (the copy's other outputs were never cached here).
    result.push_s = measured_dvc(project, logs / "push.log", "push", *stages).wall_s
    shutil.rmtree(project / ".dvc" / "cache")
    shutil.rmtree(project / "data" / "images")
    result.pull_s = measured_dvc(project, logs / "pull.log", "pull", *stages).wall_s
    print(f"dvc push {result.push_s:.1f} s, dvc pull {result.pull_s:.1f} s (local remote)")
    shutil.rmtree(remote, ignore_errors=True)
    return result


def print_ratios(small: ScaleRun, large: ScaleRun) -> None:
    print(f"\n{'figure':<32} {f'N={small.images}':>12} {f'4N={large.images}':>12} {'4N/N':>7}")
    big = large.figures()
    for name, value in small.figures().items():
        ratio = f"{big[name] / value:7.2f}" if value else f"{'-':>7}"
        print(f"{name:<32} {value:12.1f} {big[name]:12.1f} {ratio}")


def commit_description() -> str:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    )
    return described.stdout.strip() or "unknown commit"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, required=True, help="N, the smaller data set")
    parser.add_argument("--size", type=int, required=True, help="side of every image, in px")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the projects and logs")
    parser.add_argument("--no-4x", dest="four_times", action="store_false", help="only N")
    parser.add_argument(
        "--stages", nargs="+", choices=STAGES, default=STAGES, help="stages to run, in order"
    )
    args = parser.parse_args()
    if args.images < 10 * CLASSES or args.size < 8:
        parser.error(
            f"--images must be >= {10 * CLASSES} (validate.min_images_per_class is 10 in each "
            f"of {CLASSES} classes) and --size >= 8"
        )

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="imgclf-bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{cpu_description()}, {len(os.sched_getaffinity(0))} cores, {commit_description()}")
    print("peak anonymous MiB of the stage and its workers (not dvc), every 50 ms")
    finished = False
    try:
        small = run_scale(workdir, args.images, args.size, args.stages)
        if args.four_times:
            print_ratios(small, run_scale(workdir, 4 * args.images, args.size, args.stages))
        finished = True
    finally:
        if args.keep or not finished:  # a failed stage's log and project are the evidence
            print(f"\nkept {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for project in workdir.glob("project-*"):
                shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
