"""Backends for the storage suite: every behavioural test runs on memory, SQLite and PostgreSQL.

PostgreSQL: the server on 127.0.0.1:5432 (override with TYLER_TEST_POSTGRES_URL). Each test gets
its own freshly created database, dropped afterwards, so runs and tests never collide. If the
server is unreachable the PostgreSQL tests fail when CI=true and are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tyler.storage import ThreadStore

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("TYLER_TEST_POSTGRES_URL", DEFAULT_PG)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


_pg_problem: list[str] = []


def _pg_available() -> str | None:
    """None if the server answers, else why not (checked once per session)."""
    if not _pg_problem:
        try:
            asyncio.run(_admin(PG_URL, "SELECT 1"))
            _pg_problem.append("")
        except Exception as exc:  # any failure to connect means "not available"
            _pg_problem.append(f"PostgreSQL at {PG_URL} unreachable: {type(exc).__name__}: {exc}")
    return _pg_problem[0] or None


def require_postgres() -> None:
    problem = _pg_available()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    require_postgres()
    name = f"tyler_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
