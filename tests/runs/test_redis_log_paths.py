"""The Redis run log's fast paths keep its guarantees (real Redis, two logs as two workers).

Readers on the owning worker follow a local tail of confirmed entries and writes go out in
batched pipelines; these tests check that the local tail gives exactly what the shared log holds
(same ids, same seqs), hands over to the shared log when it cannot serve (window passed, or the
run was ended elsewhere while its owner was silent), that batched writes keep call order, and
that a Redis that forgot the scripts is handled without writing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from _runs_support import REDIS_URL, redis_prefix_fixture  # noqa: F401  (a fixture)

from tyler.runs import LogEntry, RedisRunLog, RunManager, RunStatus

pytestmark = pytest.mark.redis


@pytest.fixture
async def owner(redis_prefix: str) -> AsyncIterator[RedisRunLog]:
    """The worker that drives the runs; no heartbeat task (the tests decide when its lease goes)."""
    log = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=30.0, local_events=8)
    await log.open()
    yield log
    await log.close()


@pytest.fixture
async def other(redis_prefix: str) -> AsyncIterator[RedisRunLog]:
    """Another worker: it reads the shared log only."""
    log = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=30.0)
    await log.open()
    yield log
    await log.close()


async def collect(log: RedisRunLog, run_id: str, *, block: float = 0.2) -> list[LogEntry]:
    """Everything the run's subscribers get, through a RunManager over `log` (not opened: no heartbeat)."""
    runs = RunManager(log, block=block)
    return [entry async for entry in runs.subscribe(run_id)]


async def test_local_and_remote_readers_get_the_same_entries(owner: RedisRunLog, other: RedisRunLog) -> None:
    await owner.create("run-same", {})
    ids = [await owner.append("run-same", "llm_stream_chunk", f'{{"i": {i}}}') for i in range(20)]
    await owner.finish("run-same", "execution_complete", "{}", RunStatus.COMPLETED, None)
    local, remote = await collect(owner, "run-same"), await collect(other, "run-same")
    assert [(e.id, e.seq, e.data) for e in local] == [(e.id, e.seq, e.data) for e in remote]
    assert [e.id for e in local[:20]] == ids and [e.seq for e in local] == list(range(1, 22))
    # A resume id from the local tail is known to every worker.
    assert await owner.check_after("run-same", ids[15]) == await other.check_after("run-same", ids[15]) == 16


async def test_a_local_reader_behind_the_window_reads_the_shared_log(owner: RedisRunLog) -> None:
    await owner.create("run-behind", {})
    for i in range(30):  # the local tail keeps the newest 8
        await owner.append("run-behind", "llm_stream_chunk", f'{{"i": {i}}}')
    reader = asyncio.create_task(collect(owner, "run-behind"))
    await owner.append("run-behind", "llm_stream_chunk", '{"i": 30}')
    await owner.finish("run-behind", "execution_complete", "{}", RunStatus.COMPLETED, None)
    entries = await asyncio.wait_for(reader, 30)
    assert [e.seq for e in entries] == list(range(1, 33))
    assert [e.data for e in entries[:31]] == [f'{{"i": {i}}}' for i in range(31)]


async def test_a_local_reader_gets_the_ending_a_reaper_wrote_elsewhere(
    owner: RedisRunLog, other: RedisRunLog, redis_prefix: str
) -> None:
    await owner.create("run-reaped", {})
    await owner.append("run-reaped", "llm_stream_chunk", "{}")
    reader = asyncio.create_task(collect(owner, "run-reaped"))  # follows the owner's local tail
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.delete(f"{redis_prefix}worker:{owner.worker_id}")  # the owner's lease ran out
    await client.aclose()
    assert (await RunManager(other).status("run-reaped")).status is RunStatus.FAILED  # looking ended it
    entries = await asyncio.wait_for(reader, 30)  # the owner never writes again: its tail cannot know
    assert [e.seq for e in entries] == [1, 2]
    assert entries[-1].is_terminal and entries[-1].event().data["error_type"] == "WorkerLostError"


async def test_batched_writes_keep_call_order(owner: RedisRunLog, other: RedisRunLog) -> None:
    runs = [f"run-order-{k}" for k in range(5)]
    for run_id in runs:
        await owner.create(run_id, {})
    # Not awaited one by one: all 5 x 40 appends are queued together and go out in batches.
    calls = [owner.append(run_id, "llm_stream_chunk", f'{{"i": {i}}}') for i in range(40) for run_id in runs]
    await asyncio.gather(*calls)
    for run_id in runs:
        await owner.finish(run_id, "execution_complete", "{}", RunStatus.COMPLETED, None)
        entries = await collect(other, run_id)
        assert [e.data for e in entries[:40]] == [f'{{"i": {i}}}' for i in range(40)]
        assert [e.seq for e in entries] == list(range(1, 42))


async def test_scripts_flushed_from_redis_are_loaded_again_without_a_double_write(
    owner: RedisRunLog, other: RedisRunLog
) -> None:
    await owner.create("run-noscript", {})
    await owner.append("run-noscript", "llm_stream_chunk", '{"i": 0}')
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.script_flush()  # as after a Redis restart
    await client.aclose()
    await owner.append("run-noscript", "llm_stream_chunk", '{"i": 1}')
    await owner.finish("run-noscript", "execution_complete", "{}", RunStatus.COMPLETED, None)
    entries = await collect(other, "run-noscript")
    assert [e.seq for e in entries] == [1, 2, 3]
    assert [e.data for e in entries[:2]] == ['{"i": 0}', '{"i": 1}']


async def test_readers_on_another_worker_share_one_blocking_read(owner: RedisRunLog, redis_prefix: str) -> None:
    name = f"tyler-test-{redis_prefix.rstrip(':')}"
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True, client_name=name)
    other = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=30.0, client=client)
    await other.open()
    try:
        runs = [f"run-shared-{k}" for k in range(5)]
        for run_id in runs:
            await owner.create(run_id, {})
            await owner.append(run_id, "llm_stream_chunk", '{"i": 0}')
        readers = [asyncio.create_task(collect(other, run_id, block=5.0)) for run_id in runs]
        watcher = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)

        async def waiting_reads() -> int:
            clients = await watcher.client_list()
            return sum(c.get("name") == name and c.get("cmd") == "xread" for c in clients)

        seen: list[int] = []
        for _ in range(20):  # the readers wait up to 5 s for their second entry meanwhile
            await asyncio.sleep(0.05)
            seen.append(await waiting_reads())
        assert not any(r.done() for r in readers)
        assert max(seen) == 1  # one connection reads for the five remote readers, not five
        for run_id in runs:
            await owner.append(run_id, "llm_stream_chunk", '{"i": 1}')
            await owner.finish(run_id, "execution_complete", "{}", RunStatus.COMPLETED, None)
        got = await asyncio.wait_for(asyncio.gather(*readers), 30)
        await watcher.aclose()
        for run_id, entries in zip(runs, got, strict=True):
            assert [e.seq for e in entries] == [1, 2, 3]
            assert [(e.id, e.data) for e in entries] == [(e.id, e.data) for e in await collect(owner, run_id)]
    finally:
        await other.close()
