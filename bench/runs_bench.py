"""Run-log benchmark: what a resumable run costs per event, in-process log vs Redis Streams.

    .venv/bin/python bench/runs_bench.py            # 1 and 100 concurrent streams, 50 chunks/s, 10 s
    .venv/bin/python bench/runs_bench.py --quick    # shorter streams

Each stream is a `RunManager` run whose events are produced at a fixed pace (50 chunks/s, like a
fast model) and read live by one subscriber, all in this process. "added latency" is the time
from the producer yielding an event to the reader receiving it (what the log adds between a run
and its HTTP response); "CPU/event" is this process's CPU time over an unpaced run of the same
streams, divided by the events delivered (append + read, both sides); "gap p99" is the 99th
percentile of the time between consecutive chunks at the reader beyond the producer's 20 ms.
"2w": two worker processes share Redis, each drives half of the 100 streams and reads the other
half (a resume sent to the other worker); CPU/event is both processes' CPU over the paced run.
Redis: $TYLER_BENCH_REDIS_URL,
else redis://127.0.0.1:6379/0, keys under a fresh prefix, deleted afterwards.
Target (issue 10): Redis adds <= 1 ms p50 per event over in-process at 100 concurrent streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from tyler import EventType, ExecutionEvent
from tyler.runs import MemoryRunLog, RedisRunLog, RunLog, RunManager

REDIS_URL = os.environ.get("TYLER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def paced(count: int, interval: float, go: asyncio.Event, offset: float = 0.0) -> AsyncIterator[ExecutionEvent]:
    """`count` chunks `interval` s apart once `go` is set (every reader is attached by then) and
    `offset` s have passed, then the terminal event; each carries its producer's perf_counter stamp
    (CLOCK_MONOTONIC: the same clock in every process of this machine, so a reader in another
    process can compare)."""
    await go.wait()
    loop = asyncio.get_running_loop()
    start = loop.time() + offset
    for i in range(count):
        if interval:
            await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
        yield ExecutionEvent(EventType.LLM_STREAM_CHUNK,
                             data={"content_chunk": "token ", "message_id": "m", "t": time.perf_counter()})
    yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 0.0, "t": time.perf_counter()})


async def read_run(runs: RunManager, run_id: str, interval: float, out: dict[str, list[float]]) -> int:
    """Read one run to its end: each entry's latency (producer stamp to here) and, paced, the gap
    between consecutive chunks beyond the producer's `interval` (what a user sees as a stall)."""
    got, last = 0, None
    async for entry in runs.subscribe(run_id):
        now = time.perf_counter()
        out["latency"].append(now - json.loads(entry.data)["data"]["t"])
        if interval and last is not None and not entry.is_terminal:
            out["gap"].append(now - last - interval)
        last = now
        got += 1
    return got


def summary(out: dict[str, list[float]]) -> dict[str, float]:
    def pick(values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

    return {"p50_ms": pick(out["latency"], 0.5), "p99_ms": pick(out["latency"], 0.99),
            "gap_p99_ms": pick(out["gap"], 0.99)}


async def one_phase(log: RunLog, streams: int, count: int, interval: float, stagger: bool = False) -> dict[str, Any]:
    """`streams` runs read live. Aligned (the default, the worst case): every stream's events are
    due at the same instants, so each tick is one burst of `streams` events. `stagger`: stream i
    starts i/streams of an interval later (users' streams are not in step)."""
    out: dict[str, list[float]] = {"latency": [], "gap": []}
    go = asyncio.Event()
    async with RunManager(log, max_runs=streams + 1) as runs:
        ids = [await runs.start(paced(count, interval, go, interval * i / streams if stagger else 0.0))
               for i in range(streams)]
        cpu = time.process_time()
        wall = time.perf_counter()
        readers = [asyncio.create_task(read_run(runs, run_id, interval, out)) for run_id in ids]
        await asyncio.sleep(0.2)  # let the readers attach (a late one only replays: still counted)
        go.set()
        delivered = sum(await asyncio.gather(*readers))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    return {"events": delivered, "wall_s": wall, "cpu_us_per_event": cpu / delivered * 1e6, **summary(out)}


async def cleanup(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i:i + 500])
    finally:
        await client.aclose()


async def worker(index: int, prefix: str, streams: int, count: int, interval: float) -> None:
    """One of the two worker processes: drive `streams` runs, read the other worker's runs."""
    out: dict[str, list[float]] = {"latency": [], "gap": []}
    go = asyncio.Event()
    async with RunManager(RedisRunLog(REDIS_URL, prefix=prefix), max_runs=streams + 1) as runs:
        own = [await runs.start(paced(count, interval, go), run_id=f"w{index}-{i}") for i in range(streams)]
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the parent's "go": the other worker's runs exist
        cpu = time.process_time()
        readers = [asyncio.create_task(read_run(runs, f"w{1 - index}-{i}", interval, out)) for i in range(streams)]
        await asyncio.sleep(0.2)  # let the readers attach (a late one only replays: still counted)
        go.set()
        delivered = sum(await asyncio.gather(*readers))
        for run_id in own:
            await runs.wait(run_id)
        cpu = time.process_time() - cpu
    print(json.dumps({"events": delivered, "cpu_s": cpu, **out}), flush=True)


def two_workers(prefix: str, streams: int, count: int, interval: float) -> dict[str, Any]:
    """`streams` runs on two worker processes sharing Redis, each run read on the other worker."""
    cmd = [sys.executable, __file__, "--prefix", prefix, "--count", str(count), "--streams", str(streams // 2),
           "--interval", str(interval), "--worker"]
    procs = [subprocess.Popen([*cmd, str(k)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in (0, 1)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.stdout.readline()) for proc in procs if proc.stdout is not None]
    finally:
        for proc in procs:
            proc.wait(120)
    events = sum(r["events"] for r in results)
    merged = {key: [v for r in results for v in r[key]] for key in ("latency", "gap")}
    return {"events": events, "wall_s": float("nan"), "cpu_us_per_event": sum(r["cpu_s"] for r in results) / events * 1e6,
            **summary(merged)}


def show(streams: int, name: str, label: str, result: dict[str, Any]) -> None:
    print(f"{streams:>4} streams {name:<9} {label:<8} events={result['events']:>6} "
          f"p50={result['p50_ms']:.3f} ms p99={result['p99_ms']:.3f} ms gap p99={result['gap_p99_ms']:.3f} ms "
          f"CPU/event={result['cpu_us_per_event']:.1f} us wall={result['wall_s']:.2f} s", flush=True)


async def main(quick: bool) -> None:
    count = 100 if quick else 500  # events per stream: 2 s / 10 s at 50 chunks/s
    prefix = f"tyler-bench-{uuid.uuid4().hex[:8]}:"
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows = []
    try:
        for streams in (1, 100):
            for name in ("memory", "redis"):
                phases = [("50/s", 0.02, False), ("unpaced", 0.0, False)]
                if streams > 1:
                    phases.insert(1, ("50/s stag", 0.02, True))
                for label, interval, stagger in phases:
                    log: RunLog = MemoryRunLog() if name == "memory" else RedisRunLog(REDIS_URL, prefix=prefix)
                    result = await one_phase(log, streams, count, interval, stagger)
                    rows.append((streams, name, label, result))
                    show(streams, name, label, result)
        cross = await asyncio.to_thread(two_workers, prefix, 100, count, 0.02)
        show(100, "redis 2w", "50/s", cross)
    finally:
        await cleanup(prefix)
    for streams in (1, 100):
        paced_rows = {name: r for s, name, label, r in rows if s == streams and label == "50/s"}
        added = paced_rows["redis"]["p50_ms"] - paced_rows["memory"]["p50_ms"]
        added99 = paced_rows["redis"]["p99_ms"] - paced_rows["memory"]["p99_ms"]
        print(f"{streams} streams at 50 chunks/s{', in step' if streams > 1 else ''}: Redis adds {added:.3f} ms p50 "
              f"({added99:.3f} ms p99) per event over in-process (target <= 1 ms p50 at 100 streams)")
        if streams > 1:
            staggered = {name: r for s, name, label, r in rows if s == streams and label == "50/s stag"}
            added = staggered["redis"]["p50_ms"] - staggered["memory"]["p50_ms"]
            added99 = staggered["redis"]["p99_ms"] - staggered["memory"]["p99_ms"]
            print(f"{streams} streams at 50 chunks/s, starts staggered over 20 ms: Redis adds {added:.3f} ms p50 "
                  f"({added99:.3f} ms p99) per event over in-process")
    print(f"2 workers, 100 streams at 50 chunks/s, each read on the other worker: p99 added gap "
          f"{cross['gap_p99_ms']:.3f} ms (1 worker in-process: {paced_rows['memory']['gap_p99_ms']:.3f} ms)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", type=int, choices=(0, 1), help=argparse.SUPPRESS)  # a two-worker child
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.02, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        asyncio.run(worker(args.worker, args.prefix, args.streams, args.count, args.interval))
    else:
        asyncio.run(main(args.quick))
