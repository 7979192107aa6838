"""Run-log backends for the runs suite: behavioural tests run on the in-process log and on Redis.

Redis: the server on 127.0.0.1:6379 (override with TYLER_TEST_REDIS_URL). Each test gets its own
key prefix, whose keys are deleted afterwards. If Redis is unreachable the Redis tests fail when
CI=true and are skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _runs_support import REDIS_URL, LogFactory

from tyler.runs import MemoryRunLog, RunLog

_redis_problem: list[str] = []


async def _ping() -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def require_redis() -> None:
    if not _redis_problem:
        try:
            await _ping()
            _redis_problem.append("")
        except Exception as exc:  # any failure to connect means "not available"
            _redis_problem.append(f"Redis at {REDIS_URL} unreachable: {type(exc).__name__}: {exc}")
    if _redis_problem[0]:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(_redis_problem[0] + " (CI=true: Redis tests must run)")
        pytest.skip(_redis_problem[0])


async def delete_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own (its keys are deleted afterwards)."""
    await require_redis()
    prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    await delete_prefix(prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_log(request: pytest.FixtureRequest) -> AsyncIterator[LogFactory]:
    """`make_log(**options)` → a fresh backend of the parametrized kind (all share one Redis prefix)."""
    prefix = ""
    if request.param == "redis":
        await require_redis()
        prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"

    def factory(**options: Any) -> RunLog:
        if request.param == "memory":
            options.pop("lease", None)
            return MemoryRunLog(**options)
        from tyler.runs import RedisRunLog

        return RedisRunLog(REDIS_URL, prefix=prefix, **options)

    yield factory
    if prefix:
        await delete_prefix(prefix)
