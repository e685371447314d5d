"""`.ci/reproduced`, CI's check after `make run`: byte for byte under `numerics: portable`,
figure by figure within a tolerance under `native`, naming every figure that moved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.project_copy import REPO, git_env

METRICS = {"accuracy": 0.9888, "log_loss": 0.0662, "n_test": 179.0}


def committed_project(tmp_path: Path, numerics: str) -> Path:
    """A git repository whose HEAD holds a params.yaml, a dvc.lock and a metrics.json."""
    (tmp_path / "params.yaml").write_text(f"seed: 42\nnumerics: {numerics}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS, indent=2))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "c"]):
        subprocess.run(command, cwd=tmp_path, check=True, env=git_env())
    return tmp_path


def reproduced(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / ".ci" / "reproduced"), "--tolerance", "0.02"],
        cwd=project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_portable_fails_on_any_changed_bit_and_names_the_file(tmp_path: Path) -> None:
    project = committed_project(tmp_path, "portable")
    assert reproduced(project).returncode == 0

    # A change far inside any tolerance still fails: portable promises the same bits.
    (project / "metrics.json").write_text(json.dumps({**METRICS, "log_loss": 0.06621}, indent=2))
    result = reproduced(project)
    assert result.returncode == 1
    assert "metrics.json | 2 +-" in result.stdout  # git's --stat names the file
    assert "numerics: portable, yet the files above differ from HEAD" in result.stdout


def test_native_compares_figures_within_the_tolerance_and_says_which_moved(
    tmp_path: Path,
) -> None:
    project = committed_project(tmp_path, "native")
    moved_a_little = {**METRICS, "log_loss": 0.07}
    (project / "metrics.json").write_text(json.dumps(moved_a_little, indent=2))
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: {train: {}}\n")  # other weights
    assert reproduced(project).returncode == 0

    (project / "metrics.json").write_text(json.dumps({**METRICS, "accuracy": 0.95}, indent=2))
    result = reproduced(project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "metrics.json: accuracy: 0.9888 committed, 0.95 now (tolerance 0.02)"
    ]
