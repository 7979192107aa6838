"""Run-log benchmark: what a resumable run costs per event, in-process log vs Redis Streams.

    .venv/bin/python bench/runs_bench.py            # 1 and 100 concurrent streams, 50 chunks/s, 10 s
    .venv/bin/python bench/runs_bench.py --quick    # shorter streams

Each stream is a `RunManager` run whose events are produced at a fixed pace (50 chunks/s, like a
fast model) and read live by one subscriber, all in this process. "added latency" is the time
from the producer yielding an event to the reader receiving it (what the log adds between a run
and its HTTP response); "CPU/event" is this process's CPU time over an unpaced run of the same
streams, divided by the events delivered (append + read, both sides). Redis: $TYLER_BENCH_REDIS_URL,
else redis://127.0.0.1:6379/0, keys under a fresh prefix, deleted afterwards.
Target (issue 10): Redis adds <= 1 ms p50 per event over in-process at 100 concurrent streams.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from tyler import EventType, ExecutionEvent
from tyler.runs import MemoryRunLog, RedisRunLog, RunLog, RunManager

REDIS_URL = os.environ.get("TYLER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def paced(count: int, interval: float, stamps: list[float]) -> AsyncIterator[ExecutionEvent]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        if interval:
            await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
        stamps.append(time.perf_counter())
        yield ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "token ", "message_id": "m"})
    stamps.append(time.perf_counter())
    yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 0.0})


async def one_phase(log: RunLog, streams: int, count: int, interval: float) -> dict[str, Any]:
    latencies: list[float] = []
    async with RunManager(log, max_runs=streams + 1) as runs:
        stamps = [[] for _ in range(streams)]  # type: list[list[float]]
        ids = [await runs.start(paced(count, interval, stamps[i])) for i in range(streams)]

        async def read(i: int) -> int:
            got = 0
            async for entry in runs.subscribe(ids[i]):
                latencies.append(time.perf_counter() - stamps[i][entry.seq - 1])
                got += 1
            return got

        cpu = time.process_time()
        wall = time.perf_counter()
        delivered = sum(await asyncio.gather(*(read(i) for i in range(streams))))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    latencies.sort()
    return {
        "events": delivered, "wall_s": wall, "cpu_us_per_event": cpu / delivered * 1e6,
        "p50_ms": statistics.median(latencies) * 1000, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def cleanup(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i:i + 500])
    finally:
        await client.aclose()


async def main(quick: bool) -> None:
    count = 100 if quick else 500  # events per stream: 2 s / 10 s at 50 chunks/s
    prefix = f"tyler-bench-{uuid.uuid4().hex[:8]}:"
    rows = []
    try:
        for streams in (1, 100):
            for name in ("memory", "redis"):
                for label, interval in (("50/s", 0.02), ("unpaced", 0.0)):
                    log: RunLog = MemoryRunLog() if name == "memory" else RedisRunLog(REDIS_URL, prefix=prefix)
                    result = await one_phase(log, streams, count, interval)
                    rows.append((streams, name, label, result))
                    print(f"{streams:>4} streams {name:<7} {label:<8} events={result['events']:>6} "
                          f"p50={result['p50_ms']:.3f} ms p99={result['p99_ms']:.3f} ms "
                          f"CPU/event={result['cpu_us_per_event']:.1f} us wall={result['wall_s']:.2f} s", flush=True)
    finally:
        await cleanup(prefix)
    for streams in (1, 100):
        paced_rows = {name: r for s, name, label, r in rows if s == streams and label == "50/s"}
        added = paced_rows["redis"]["p50_ms"] - paced_rows["memory"]["p50_ms"]
        print(f"{streams} streams at 50 chunks/s: Redis adds {added:.3f} ms p50 per event over in-process "
              f"(target <= 1 ms at 100 streams)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
