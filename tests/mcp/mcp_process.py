"""Watching an MCP server process from the tests (shared by the manager and agent tests)."""

from __future__ import annotations

import asyncio
import os


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for_exit(pid: int, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if not alive(pid):
            return
        await asyncio.sleep(0.05)
