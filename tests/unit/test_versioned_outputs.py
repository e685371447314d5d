"""What changes from run to run stays out of what DVC and git version: the paths below are
written by the stages (and logged to MLflow where useful) but are neither a stage output,
whose hash DVC would record in dvc.lock, nor tracked by git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))

# path var -> why its bytes differ on every run
RUN_TO_RUN = {
    "validation_docs": "GX data docs carry their build time and random element ids",
    "checkpoints": "Lightning's checkpoints hold their absolute folder",
    "optuna_db": "the study storage holds each trial's start and end time",
    "optuna_journal": "the study journal holds each trial's start and end time",
}


def declared_paths() -> set[str]:
    """Every path a stage declares as an out, a metric or a plot, variables resolved."""
    paths = DVC_YAML["vars"][0]["paths"]
    declared: set[str] = set()
    for stage in DVC_YAML["stages"].values():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section, []):
                name = next(iter(entry)) if isinstance(entry, dict) else entry
                for key, value in paths.items():
                    name = name.replace(f"${{paths.{key}}}", value)
                declared.add(name)
    return declared


@pytest.mark.parametrize("key", sorted(RUN_TO_RUN))
def test_run_to_run_files_are_no_dvc_output(key: str) -> None:
    path = DVC_YAML["vars"][0]["paths"][key]
    overlapping = [
        out for out in declared_paths()
        if out == path or out.startswith(f"{path}/") or path.startswith(f"{out}/")
    ]  # fmt: skip
    assert not overlapping, f"{path}: {RUN_TO_RUN[key]}"


@pytest.mark.parametrize("key", sorted(RUN_TO_RUN))
def test_run_to_run_files_are_gitignored(key: str) -> None:
    path = DVC_YAML["vars"][0]["paths"][key]
    # As a file or as a folder (a pattern ending in / matches folders only).
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", path, f"{path}/"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ignored.stdout.strip(), f"{path} is not gitignored: {RUN_TO_RUN[key]}"
