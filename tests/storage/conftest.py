"""Backends for the storage suite: every behavioural test runs on memory, SQLite and PostgreSQL.

PostgreSQL: see tests/pg_helpers.py (each test gets its own freshly created database, dropped
afterwards; an unreachable server fails the test when CI=true and skips it otherwise).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pg_helpers import fresh_database
from tyler.storage import ThreadStore


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The database URL of this test's backend (None for memory)."""
    if backend == "memory":
        return None
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A URL of a real database (SQLite file or PostgreSQL), for tests memory cannot express."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def store(url: str | None) -> AsyncIterator[ThreadStore]:
    s = await ThreadStore.create(url)
    try:
        yield s
    finally:
        await s.close()
