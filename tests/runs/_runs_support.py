"""Fixtures and helpers of the runs tests (imported by name: pytest puts this folder on sys.path).

Behavioural tests run on the in-process log and on Redis (`make_log`). Redis: the server on
127.0.0.1:6379 (override with TYLER_TEST_REDIS_URL); each test gets its own key prefix, whose keys
are deleted afterwards. If Redis is unreachable the Redis tests fail when CI=true and are skipped
otherwise. Not a conftest.py: a second `conftest` module would shadow tests/server's.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tyler.runs import MemoryRunLog, RunLog

REDIS_URL = os.environ.get("TYLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LogFactory = Callable[..., RunLog]


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll `predicate` until it is true; fail after `within` seconds (a generous bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


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


@pytest.fixture(name="redis_prefix")
async def redis_prefix_fixture() -> AsyncIterator[str]:
    """A key prefix of this test's own (its keys are deleted afterwards)."""
    await require_redis()
    prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    await delete_prefix(prefix)


@pytest.fixture(name="make_log", params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_log_fixture(request: pytest.FixtureRequest) -> AsyncIterator[LogFactory]:
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
