"""PostgreSQL for the tests: the server on 127.0.0.1:5432 (override with TYLER_TEST_POSTGRES_URL).

`fresh_database()` creates an empty database of the test's own and drops it afterwards, so runs
and tests never collide. If the server is unreachable, `require_postgres()` fails the test when
CI=true and skips it otherwise. (Imported by name: tests/ is on sys.path, like files_helpers.)
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import make_url

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("TYLER_TEST_POSTGRES_URL", DEFAULT_PG)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(url: str, *statements: str) -> None:
    """Run `statements` on the server at `url` (outside any transaction: CREATE DATABASE needs that)."""
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
            asyncio.run(admin(PG_URL, "SELECT 1"))
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


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped (even if still in use) afterwards."""
    require_postgres()
    name = f"tyler_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(PG_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
