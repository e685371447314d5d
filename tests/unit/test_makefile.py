"""`make setup` checks the Python version before it creates or downloads anything."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]


def makefile_python_version() -> str:
    found = re.search(r"^PYTHON_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert found, "Makefile has no PYTHON_VERSION"
    return found.group(1)


def test_the_makefile_checks_the_python_that_pyproject_requires() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = map(int, makefile_python_version().split("."))
    allowed = SpecifierSet(requires)
    assert f"{major}.{minor}.0" in allowed
    assert f"{major}.{minor + 1}.0" not in allowed and f"{major}.{minor - 1}.99" not in allowed


def test_setup_without_the_needed_python_says_how_to_choose_it(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-C", str(REPO), "setup", "PYTHON=python2.0", f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "error: imgclf needs Python 3.11 (pyproject.toml requires-python), but PYTHON=python2.0"
        " is not found; install Python 3.11 and choose it, e.g. make run PYTHON=python3.11"
    ) in done.stderr
    assert not venv.exists()
