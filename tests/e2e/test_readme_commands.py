"""The README's commands, as written, in order, in one plain shell (no venv activated) on a
fresh copy of the repository: a renamed flag, a moved file or a missing step fails here.

A ```bash block right after a line ``<!-- not run by tests: REASON -->`` is skipped, and the
test prints which and why (the test suite itself, a server that would not return). The copy
gets this checkout's ``.venv`` (a symlink) in place of the minutes of installing it that
``make run`` does on a fresh machine; everything else runs as a newcomer's shell would.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.project_copy import REPO, git_env

# A ```text block right after a bash block (prose between allowed): what those commands print.
SHOWN = re.compile(r"```bash\n(?:.*?)```\n(?:(?!```).)*?```text\n(?P<out>.*?)```", re.S)
BLOCK = re.compile(
    r"(?:<!--\s*not run by tests:\s*(?P<skip>[^>]*?)\s*-->\s*\n)?```bash\n(?P<body>.*?)```", re.S
)


def readme_blocks(text: str) -> list[tuple[str, str | None]]:
    """(commands, reason to skip or None) of each bash block, in order."""
    return [(m.group("body"), m.group("skip")) for m in BLOCK.finditer(text)]


def shown_outputs(text: str) -> list[str]:
    """Every line of the ```text blocks that show a bash block's output, spaces collapsed."""
    lines = (line for m in SHOWN.finditer(text) for line in m.group("out").splitlines())
    return [" ".join(line.split()) for line in lines if line.strip()]


def plain_shell_env() -> dict[str, str]:
    """This environment as a fresh login shell has it: no venv on PATH, no tracking server."""
    drop = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    env = {k: v for k, v in git_env().items() if k not in drop}
    env["PATH"] = os.pathsep.join(
        part for part in env["PATH"].split(os.pathsep) if ".venv" not in part
    )
    return env


def lend_venv(project: Path) -> None:
    """Give the copy this checkout's set-up ``.venv``, and make it count as set up: its
    install stamp newer than the files it was made from. Were make to redo it from the copy,
    pip would point this checkout's editable install at the copy, deleted after the test."""
    venv = REPO / ".venv"
    (project / ".venv").symlink_to(venv)
    stamp = (venv / ".installed-stamp").stat().st_mtime
    for made_from in ("requirements.lock", "pyproject.toml"):
        os.utime(project / made_from, (stamp - 1, stamp - 1))


def test_shown_outputs_are_the_text_blocks_after_a_command() -> None:
    text = "```bash\nls\n```\nprints:\n\n```text\na  b\n```\n\n```text\nnot output\n```\n"

    assert shown_outputs(text) == ["a b"]


def test_blocks_are_found_with_their_reasons_to_skip() -> None:
    text = (
        "```bash\nmake run\n```\n"
        "<!-- not run by tests: the test suite itself -->\n```bash\nmake test\n```\n"
    )

    assert readme_blocks(text) == [("make run\n", None), ("make test\n", "the test suite itself")]


@pytest.mark.e2e
@pytest.mark.slow
def test_readme_commands_run_as_written_in_a_plain_shell(project: Path) -> None:
    lend_venv(project)
    blocks = readme_blocks((REPO / "README.md").read_text())
    skipped = [(body.strip().splitlines()[0], why) for body, why in blocks if why]
    for first_line, why in skipped:
        print(f"README block not run ({why}): {first_line}")
    assert all(why.strip() for _, why in skipped)
    script = "set -euo pipefail\n" + "\n".join(body for body, why in blocks if not why)

    done = subprocess.run(
        ["bash", "-c", script], cwd=project, env=plain_shell_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1500,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-6000:]
    assert "Traceback" not in done.stdout
    printed = {" ".join(line.split()) for line in done.stdout.splitlines()}
    assert set(shown_outputs((REPO / "README.md").read_text())) <= printed
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True)
    assert status.stdout.decode() == "", "the README's commands changed committed files"
