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


class _ReplyDropper:
    """A TCP proxy on loopback in front of Redis that, once armed, lets the next EVALSHA reach Redis
    and then cuts the connection instead of passing Redis's reply on: a reply lost after the write."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.armed = False
        self.dropped = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection(*self.upstream)
        sent = bytearray()  # what the client sent since Redis last answered (a command may span reads)

        async def to_redis() -> None:
            while data := await client_r.read(65536):
                sent.extend(data)
                redis_w.write(data)
                await redis_w.drain()

        async def to_client() -> None:
            while data := await redis_r.read(65536):
                if self.armed and b"EVALSHA" in sent.upper():  # Redis ran the script: lose its reply
                    self.armed = False
                    self.dropped += 1
                    return
                sent.clear()
                client_w.write(data)
                await client_w.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(to_client())]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
                self._tasks.discard(pump)
            client_w.close()
            redis_w.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_an_append_whose_reply_was_lost_is_in_the_log_once(redis_prefix: str, other: RedisRunLog) -> None:
    # A client built with `Redis(...)` resends a command after a dropped connection (redis-py's
    # default retry; `from_url` clients do not, in redis-py 7.4); the append script ran the first
    # time, so the resent call must find its event already there, not add a copy.
    kwargs = aioredis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs
    proxy = _ReplyDropper((kwargs["host"], kwargs["port"]))
    port, db = await proxy.start(), kwargs.get("db", 0)
    client = aioredis.Redis(host="127.0.0.1", port=port, db=db, decode_responses=True)
    log = RedisRunLog(f"redis://127.0.0.1:{port}/{db}", prefix=redis_prefix, lease=30.0, local_events=8, client=client)
    try:
        await log.open()
        await log.create("run-lost-reply", {})
        first = await log.append("run-lost-reply", "llm_stream_chunk", '{"i": 0}')
        proxy.armed = True
        lost = await log.append("run-lost-reply", "llm_stream_chunk", '{"i": 1}')
        assert proxy.dropped == 1  # the reply really was lost
        last = await log.append("run-lost-reply", "llm_stream_chunk", '{"i": 2}')
        await log.finish("run-lost-reply", "execution_complete", "{}", RunStatus.COMPLETED, None)
        plain = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        stored = await plain.xrange(f"{redis_prefix}run:{{run-lost-reply}}:log")
        await plain.aclose()
        assert [(f["d"], int(f["n"])) for _id, f in stored] == [
            ('{"i": 0}', 1), ('{"i": 1}', 2), ('{"i": 2}', 3), ("{}", 4)]
        remote, local = await collect(other, "run-lost-reply"), await collect(log, "run-lost-reply")
    finally:
        await log.close()
        await proxy.close()
    assert [e.data for e in remote] == ['{"i": 0}', '{"i": 1}', '{"i": 2}', "{}"]
    assert [e.seq for e in remote] == [1, 2, 3, 4]
    assert [e.id for e in remote[:3]] == [first, lost, last]
    assert [(e.id, e.seq) for e in local] == [(e.id, e.seq) for e in remote]


async def test_any_text_is_stored_exactly_as_given(owner: RedisRunLog, other: RedisRunLog) -> None:
    # A batch travels to Redis as one JSON argument that the script decodes: quotes, backslashes,
    # escapes, non-ASCII and multi-byte characters, braces of other runs' keys and an empty text
    # must all come back byte for byte, from the shared log as from the local tail.
    texts = ['{"content_chunk": "say \\"hi\\"\\n\\t\\\\ \\u0000 \\ud83d\\ude00"}', '{"c": "héllo wörld — 日本語 😀"}',
             '{"c": "run:{other}:log ]],[[ \'"}', "", '{"n": 12345678901234567890, "f": 1e308}']
    runs = ["run-text-a", "run-text-b"]
    for run_id in runs:
        await owner.create(run_id, {})
    # In one loop turn, so they go out as one batch of several runs.
    await asyncio.gather(*(owner.append(run_id, "llm_stream_chunk", text) for text in texts for run_id in runs))
    for run_id in runs:
        await owner.finish(run_id, "execution_complete", "{}", RunStatus.COMPLETED, None)
        local, remote = await collect(owner, run_id), await collect(other, run_id)
        assert [e.data for e in remote[:-1]] == [e.data for e in local[:-1]] == texts
        assert [e.seq for e in remote] == list(range(1, len(texts) + 2))
