"""Runs that outlive their connection: per-run event logs, resume with exactly-once replay,
cancel from any worker, and dead-worker detection.

    from tyler.runs import RunManager, RedisRunLog

    async with RunManager(RedisRunLog("redis://127.0.0.1:6379/0")) as runs:   # or RunManager()
        run_id = await runs.start(agent.stream(thread))
        async for entry in runs.subscribe(run_id, after=last_event_id):        # entry.id → SSE id:
            ...                                                                  # entry.event()
        await runs.cancel(run_id)                                                # from any worker

Backends: `MemoryRunLog` (in-process, the default) and `RedisRunLog` (Redis Streams, any number
of workers and hosts; needs the `redis` extra). With Redis a worker that is full can `submit` a
run to a shared queue (a consumer group) that any worker with room takes (`RunManager(runner=)`).
`import tyler` does not import this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import LogEntry, QueuedRun, RunInfo, RunLog, RunQueue, RunStatus, decode_event, encode_event
from .manager import RunManager
from .memory import MemoryRunLog

if TYPE_CHECKING:
    from .redis_streams import RedisRunLog

__all__ = [
    "LogEntry",
    "MemoryRunLog",
    "QueuedRun",
    "RedisRunLog",
    "RunInfo",
    "RunLog",
    "RunManager",
    "RunQueue",
    "RunStatus",
    "decode_event",
    "encode_event",
]


def __getattr__(name: str) -> Any:
    if name == "RedisRunLog":  # redis-py is imported only when the Redis backend is asked for
        from .redis_streams import RedisRunLog

        return RedisRunLog
    raise AttributeError(f"module 'tyler.runs' has no attribute {name!r}")
