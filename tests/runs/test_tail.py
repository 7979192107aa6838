"""`LocalTail`: the owning worker's in-memory window of a run's confirmed entries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tyler.runs._base import LogEntry
from tyler.runs._tail import LocalTail

pytestmark = pytest.mark.asyncio


async def _until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (they need a few turns, never a time)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the readers never started waiting")


async def test_waits_that_time_out_or_are_cancelled_leave_nothing_behind() -> None:
    # A reader of a quiet run waits `block` s again and again (a tool that runs for an hour): each
    # wait must clean up after itself, or the tail collects one future per wait.
    tail = LocalTail(8)
    for _ in range(20):
        assert await tail.read(None, block=0.001, count=10) == []
    reader = asyncio.create_task(tail.read(None, block=60, count=10))
    await _until(lambda: tail._wakeup.waiting == 1)  # the reader is waiting
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert tail._wakeup.waiting == 0


async def test_every_waiting_reader_is_woken_by_an_entry() -> None:
    tail = LocalTail(8)
    readers = [asyncio.create_task(tail.read(None, block=60, count=10)) for _ in range(3)]
    await _until(lambda: tail._wakeup.waiting == 3)
    entry = LogEntry("1-0", "llm_stream_chunk", "{}", 1)
    tail.add(entry)
    assert await asyncio.wait_for(asyncio.gather(*readers), 30) == [[entry]] * 3
    assert tail._wakeup.waiting == 0
