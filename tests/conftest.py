"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import create_database, postgres_bin, postgres_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server started for this test session (skips when not installed)."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does)")
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> str:
    """A fresh, empty database on the session's server."""
    return create_database(postgres_admin_url)
