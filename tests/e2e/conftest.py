"""Fixtures of the end-to-end suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project_copy import copy_repository


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the repository (its own git repo) in ``tmp_path``."""
    return copy_repository(tmp_path / "project")
