"""Helpers shared by the runs tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from tyler.runs import RunLog

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
