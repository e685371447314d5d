"""The pull-request report (.ci/report) carries the study's verdict from reports/tune.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.project_copy import REPO, copy_repository, git_env


def test_pr_report_shows_the_verdict_the_defaults_and_the_choice(tmp_path: Path) -> None:
    project = copy_repository(tmp_path)
    (project / ".venv").symlink_to(REPO / ".venv")
    report = json.loads((project / "reports" / "tune.json").read_text())

    out = subprocess.run(
        [str(project / ".ci" / "report"), "HEAD"],
        cwd=project, capture_output=True, text=True, env=git_env(), check=True,
    ).stdout  # fmt: skip

    section = out.split("### Are the hyperparameters proven?")[1].split("###")[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert lines == [
        f"- {report['verdict']}",
        f"- {report['defaults']}",
        f"- {report['selected']['reason']}",
    ]
    assert lines[0].startswith("- best trial ")
