"""A worker process for the cross-process tests: drives one run on the Redis run log.

    python producer.py REDIS_URL PREFIX MODE [ARGS...]

MODE `gated N GATE_AT`: a run of N chunk events that waits, before event GATE_AT, until the test
pushes to the Redis list `<PREFIX>gate` (so a resume can be placed before the live part).
MODE `agent STORE_URL THREAD_ID`: a real Agent run (model from the environment, i.e. the test's
fake model server) on a stored thread. Prints one JSON line {"run_id", "worker"}, then waits for
the run to end (or to be killed).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from tyler import Agent, EventType, ExecutionEvent
from tyler.runs import RedisRunLog, RunManager
from tyler.storage import ThreadStore


async def gated(url: str, prefix: str, count: int, gate_at: int) -> AsyncIterator[ExecutionEvent]:
    client = aioredis.Redis.from_url(url)
    try:
        for i in range(1, count + 1):
            if i == gate_at:
                await client.blpop([f"{prefix}gate"], timeout=60)
            yield ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": f"c{i} ", "message_id": "m"})
        yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0})
    finally:
        await client.aclose()


async def main(url: str, prefix: str, mode: str, *args: str) -> None:
    log = RedisRunLog(url, prefix=prefix, lease=3.0)  # generous: a loaded CI box must not look dead
    async with RunManager(log, block=0.2) as runs:
        store = None
        if mode == "gated":
            events = gated(url, prefix, int(args[0]), int(args[1]))
        else:
            store = ThreadStore(args[0])
            thread = await store.get_thread(args[1])
            events = Agent(model_name="gpt-4o", thread_store=store).stream(thread)
        run_id = await runs.start(events)
        print(json.dumps({"run_id": run_id, "worker": log.worker_id}), flush=True)
        await runs.wait(run_id)
        if store is not None:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
