"""The Redis run log across workers: real processes sharing one Redis.

A run produced by another process is resumed here exactly once; kill -9 of the owning process
ends its run with a terminal error that readers receive; a cancel sent from here reaches the
process that drives the run and closes its upstream model request; a worker presumed dead cannot
write after its run was ended; Redis down gives clear errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from _runs_support import REDIS_URL, redis_prefix_fixture, wait_for  # noqa: F401  (a fixture)

from tyler import Agent, EventType, ExecutionEvent, Message, Thread
from tyler.exceptions import RunLimitError, RunLogUnavailableError, RunNotFoundError, RunOwnershipError
from tyler.runs import LogEntry, RedisRunLog, RunManager, RunStatus, encode_event
from tyler.storage import ThreadStore
from tyler.testing import FakeModelServer, Turn

pytestmark = pytest.mark.redis
PRODUCER = Path(__file__).with_name("producer.py")
LONG = " ".join(f"word{i}" for i in range(400))


class Producer:
    """`producer.py` in its own process; `info` is the JSON line it printed (run_id, worker)."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    @property
    def run_id(self) -> str:
        return str(self.info["run_id"])


@pytest.fixture
async def spawn(redis_prefix: str) -> AsyncIterator[Any]:
    procs: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> Producer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PRODUCER), REDIS_URL, redis_prefix, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            assert proc.stderr is not None
            raise AssertionError(f"producer failed: {(await proc.stderr.read()).decode()[-2000:]}")
        return Producer(proc, json.loads(line))

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def manager(prefix: str, **options: Any) -> RunManager:
    return RunManager(RedisRunLog(REDIS_URL, prefix=prefix, lease=options.pop("lease", 3.0)), block=0.2, **options)


async def read_until(runs: RunManager, run_id: str, count: int, after: str | None = None) -> list[LogEntry]:
    out: list[LogEntry] = []
    async for entry in runs.subscribe(run_id, after):
        out.append(entry)
        if len(out) == count:
            break
    return out


async def test_resume_on_another_worker_is_exactly_once(spawn: Any, redis_prefix: str) -> None:
    producer = await spawn("gated", "80", "41")
    async with manager(redis_prefix) as runs:
        first = await read_until(runs, producer.run_id, 15)  # the client drops after event 15
        resumed: list[LogEntry] = []

        async def reader() -> None:
            async for entry in runs.subscribe(producer.run_id, after=first[-1].id):
                resumed.append(entry)

        task = asyncio.create_task(reader())
        await wait_for(lambda: _at_least(resumed, 25))  # replayed up to the gate: the rest is live
        client = aioredis.Redis.from_url(REDIS_URL)
        await client.rpush(f"{redis_prefix}gate", "go")
        await client.aclose()
        await asyncio.wait_for(task, 60)
        reference = await read_until(runs, producer.run_id, 10_000)
        info = await runs.status(producer.run_id)
    assert first + resumed == reference
    assert [e.seq for e in reference] == list(range(1, 82))
    text = "".join(e.event().data["content_chunk"] for e in reference[:-1])
    assert text == "".join(f"c{i} " for i in range(1, 81))
    assert info.status is RunStatus.COMPLETED and info.owner == producer.info["worker"]
    assert await asyncio.wait_for(producer.proc.wait(), 30) == 0


async def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count


async def test_kill_9_of_the_owner_ends_the_run_for_readers(spawn: Any, redis_prefix: str) -> None:
    producer = await spawn("gated", "50", "11")  # stops at event 11 forever: never pushed
    async with manager(redis_prefix) as runs:
        seen: list[LogEntry] = []
        got_ten = asyncio.Event()

        async def reader() -> None:
            async for entry in runs.subscribe(producer.run_id):
                seen.append(entry)
                if len(seen) == 10:
                    got_ten.set()

        task = asyncio.create_task(reader())
        await asyncio.wait_for(got_ten.wait(), 60)
        os.kill(producer.proc.pid, signal.SIGKILL)
        await producer.proc.wait()
        # Bound: lease (3 s) + reader block (0.2 s); 30 s leaves room for a loaded machine.
        await asyncio.wait_for(task, 30)
        info = await runs.status(producer.run_id)
        late = await read_until(runs, producer.run_id, 10_000, after=seen[9].id)
    assert [e.seq for e in seen] == list(range(1, 12))
    final = seen[-1].event()
    assert final.type is EventType.EXECUTION_ERROR and final.data["error_type"] == "WorkerLostError"
    assert info.status is RunStatus.FAILED and "stopped responding" in (info.error or "")
    assert late == [seen[-1]]  # a reader arriving later gets the same single ending


async def test_cancel_from_another_process_closes_upstream_and_keeps_partial(
    spawn: Any, redis_prefix: str, env: FakeModelServer, tmp_path: Path
) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    url = f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"
    async with ThreadStore(url) as store:
        thread = Thread()
        thread.add_message(Message(role="user", content="Tell me a long story"))
        await store.save(thread)
    producer = await spawn("agent", url, thread.id)
    async with manager(redis_prefix) as runs:
        entries: list[LogEntry] = []
        async for entry in runs.subscribe(producer.run_id):
            entries.append(entry)
            if entry.type == EventType.LLM_STREAM_CHUNK and sum(e.type == entry.type for e in entries) == 5:
                assert await runs.cancel(producer.run_id)  # the run lives in the other process
        info = await runs.status(producer.run_id)
    assert await env.await_disconnect(timeout=30.0)
    assert env.requests[0].disconnected_early
    assert info.status is RunStatus.CANCELLED
    assert entries[-1].event().data["error_type"] == "RunCancelledError"
    assert sum(e.is_terminal for e in entries) == 1
    assert await asyncio.wait_for(producer.proc.wait(), 30) == 0
    async with ThreadStore(url) as store:
        stored = await store.get_thread(thread.id)
    partial = stored.messages[-1]
    streamed = "".join(e.event().data["content_chunk"] for e in entries if e.type == EventType.LLM_STREAM_CHUNK)
    assert partial.role == "assistant" and partial.interrupted
    assert str(partial.content).startswith(streamed)


async def test_a_worker_declared_dead_cannot_write_again(redis_prefix: str) -> None:
    owner = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=30.0)  # no heartbeat here: the test ends it
    await owner.open()
    try:
        await owner.create("run-fenced", {"thread_id": "t-fenced"})
        await owner.append("run-fenced", "llm_stream_chunk", "{}")
        async with manager(redis_prefix) as other:
            info = await other.status("run-fenced")
            assert info.status is RunStatus.RUNNING  # the owner's lease is fresh
            assert await other.active_run("t-fenced") == "run-fenced"
            client = aioredis.Redis.from_url(REDIS_URL)
            await client.delete(f"{redis_prefix}worker:{owner.worker_id}")  # as if the lease ran out
            await client.aclose()
            assert await other.active_run("t-fenced") is None  # looking ended the dead worker's run
            info = await other.status("run-fenced")
            entries = await read_until(other, "run-fenced", 100)
        with pytest.raises(RunOwnershipError):
            await owner.append("run-fenced", "llm_stream_chunk", "{}")
        done = ExecutionEvent(EventType.EXECUTION_COMPLETE)
        with pytest.raises(RunOwnershipError):
            await owner.finish("run-fenced", done.type.value, "{}", RunStatus.COMPLETED, None)
    finally:
        await owner.close()
    assert info.status is RunStatus.FAILED
    assert [e.seq for e in entries] == [1, 2] and entries[-1].event().data["error_type"] == "WorkerLostError"


async def test_redis_unreachable_at_start_is_a_clear_error() -> None:
    runs = RunManager(RedisRunLog("redis://127.0.0.1:1/0"))
    with pytest.raises(RunLogUnavailableError, match=r"redis://127\.0\.0\.1:1/0"):
        await runs.open()


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A redis-server of this test's own (it will be killed), on a free port."""
    import shutil
    import socket

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"

    async def up() -> bool:
        client = aioredis.Redis.from_url(url)
        try:
            return bool(await client.ping())
        except aioredis.RedisError:
            return False
        finally:
            await client.aclose()

    await wait_for(up)
    yield url, proc
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


async def test_redis_lost_mid_run_fails_cleanly_and_keeps_the_store(
    private_redis: tuple[str, asyncio.subprocess.Process], env: FakeModelServer, tmp_path: Path
) -> None:
    url, redis_proc = private_redis
    env.enqueue(Turn(text=LONG, delay=0.01), Turn(text="After the outage."))
    store_url = f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"
    async with ThreadStore(store_url) as store:
        thread = Thread()
        thread.add_message(Message(role="user", content="Tell me a long story"))
        await store.save(thread)
        runs = await RunManager(RedisRunLog(url, lease=3.0), block=0.2).open()
        run_id = await runs.start(Agent(model_name="gpt-4o", thread_store=store).stream(thread))
        seen: list[LogEntry] = []
        with pytest.raises(RunLogUnavailableError):
            async for entry in runs.subscribe(run_id):
                seen.append(entry)
                if len(seen) == 6:
                    redis_proc.kill()  # Redis is gone mid-run
        await asyncio.wait_for(runs.wait(run_id), 30)  # the run stopped instead of running unseen
        assert not runs.active
        assert await env.await_disconnect(timeout=30.0)  # and its upstream request was closed
        with pytest.raises(RunLogUnavailableError):
            await runs.status(run_id)
        await runs.close()
        stored = await store.get_thread(thread.id)
        assert stored.messages[-1].role == "assistant" and stored.messages[-1].interrupted
        # The store is intact and usable: the conversation goes on without the run log.
        result = await Agent(model_name="gpt-4o", thread_store=store).go(stored)
        assert result.content == "After the outage."
        assert (await store.get_thread(thread.id)).messages[-1].content == "After the outage."


async def test_the_lost_reply_is_rebuilt_into_the_thread_once(redis_prefix: str, tmp_path: Path) -> None:
    """Several workers notice the dead owner at once: one ends the run and writes the reply."""
    chunk = EventType.LLM_STREAM_CHUNK.value
    async with ThreadStore(f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}") as store:
        thread = Thread(id="t-lost")
        thread.add_message(Message(role="user", content="Tell me a story"))
        await store.save(thread)
        owner = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=30.0)  # no heartbeat: the test ends it
        await owner.open()
        try:
            await owner.create("run-lost", {"thread_id": "t-lost"})
            for event in (
                ExecutionEvent(EventType.LLM_THINKING_CHUNK, data={"thinking_chunk": "Hmm", "message_id": "m1"}),
                ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "Once ", "message_id": "m1"}),
                ExecutionEvent(EventType.LLM_TOOL_CALL_CHUNK, data={
                    "tool_call_id": "c1", "index": 0, "tool_name": "look", "arguments_delta": '{"q":',
                    "message_id": "m1"}),
                ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "upon", "message_id": "m1"}),
            ):
                await owner.append("run-lost", *encode_event(event))
            client = aioredis.Redis.from_url(REDIS_URL)
            await client.delete(f"{redis_prefix}worker:{owner.worker_id}")  # as if the lease ran out
            await client.aclose()
            workers = [RunManager(RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=3.0), block=0.2, store=store)
                       for _ in range(3)]
            for runs in workers:
                await runs.open()
            try:
                await asyncio.gather(*(runs.status("run-lost") for runs in workers))
                infos = [await runs.status("run-lost") for runs in workers]
                ends = [e async for e in workers[0].subscribe("run-lost") if e.type != chunk]
            finally:
                for runs in workers:
                    await runs.close()
        finally:
            await owner.close()
        stored = await store.get_thread("t-lost")
    assert {info.status for info in infos} == {RunStatus.FAILED}
    assert [e.event().data["error_type"] for e in ends if e.is_terminal] == ["WorkerLostError"]
    assert [m.role for m in stored.messages] == ["user", "assistant"]
    partial = stored.messages[-1]
    assert partial.id == "m1" and partial.interrupted and partial.content == "Once upon"
    assert partial.reasoning_content == "Hmm" and partial.tool_calls is None
    assert partial.attributes["partial_tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "look", "arguments": '{"q":'}}
    ]
    assert partial.attributes["error_type"] == "WorkerLostError"


# -- the shared queue: a full worker's runs are started by another --------------------------------


async def chunks(job: dict[str, Any]) -> AsyncIterator[ExecutionEvent]:
    """A queued run's events (the runner of the dispatch tests): job['n'] chunks, then the end."""
    for i in range(int(job["n"])):
        yield ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": f"q{i} ", "message_id": "m"})
    yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0})


async def runner(job: dict[str, Any]) -> AsyncIterator[ExecutionEvent]:
    return chunks(job)


async def held(gate: asyncio.Event) -> AsyncIterator[ExecutionEvent]:
    await gate.wait()
    yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0})


async def test_a_full_worker_queues_and_a_worker_with_room_takes_the_run(redis_prefix: str) -> None:
    gate = asyncio.Event()
    async with manager(redis_prefix, max_runs=1, runner=runner) as a, \
            manager(redis_prefix, max_runs=1, runner=runner) as b:
        busy = await a.start(held(gate))
        assert a.dispatching and not a.has_capacity
        queued = await a.submit({"n": 3}, metadata={"thread_id": "t-queued"})
        entries = await asyncio.wait_for(read_until(a, queued, 10), 60)  # read via the full worker, run by the other
        info = await a.status(queued)
        gate.set()
        await a.wait(busy)
    assert [e.type for e in entries] == [EventType.LLM_STREAM_CHUNK.value] * 3 + [EventType.EXECUTION_COMPLETE.value]
    assert "".join(e.event().data["content_chunk"] for e in entries[:3]) == "q0 q1 q2 "
    assert info.status is RunStatus.COMPLETED and info.owner == b.log.worker_id


async def test_the_queue_is_bounded_and_a_queued_run_can_be_cancelled(redis_prefix: str) -> None:
    log = RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=3.0, max_queue=2)
    async with RunManager(log, block=0.2) as runs:  # no runner: this worker takes nothing
        first = await runs.submit({"n": 1}, metadata={"thread_id": "t-q"})
        await runs.submit({"n": 1})
        with pytest.raises(RunLimitError):
            await runs.submit({"n": 1}, run_id="run-too-many")  # -> HTTP 429
        with pytest.raises(RunNotFoundError):
            await runs.status("run-too-many")  # refused runs leave nothing behind
        assert (await runs.status(first)).status is RunStatus.QUEUED
        assert await runs.active_run("t-q") == first
        assert await runs.cancel(first)  # nobody took it: ended where it waits
        ended = await asyncio.wait_for(read_until(runs, first, 10), 60)
        info = await runs.status(first)
        await runs.submit({"n": 1}, run_id="run-in-its-place")  # the cancelled run's place is free at once
        with pytest.raises(RunLimitError):
            await runs.submit({"n": 1})
    assert info.status is RunStatus.CANCELLED
    assert [e.event().data["error_type"] for e in ended] == ["RunCancelledError"]


async def test_a_run_taken_by_a_worker_that_died_before_claiming_it_is_taken_again(redis_prefix: str) -> None:
    async with RunManager(RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=3.0), block=0.2) as submitter:
        run_id = await submitter.submit({"n": 2})
        client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        # A worker takes the job from the group and is killed before it claims the run.
        taken = await client.xreadgroup("workers", "dead-worker", {f"{redis_prefix}queue": ">"}, count=1)
        await client.aclose()
        assert taken and taken[0][1][0][1]["run"] == run_id
        async with manager(redis_prefix, lease=0.5, runner=runner) as rescuer:  # re-takes after 2 leases idle
            entries = await asyncio.wait_for(read_until(rescuer, run_id, 10), 60)
            info = await rescuer.status(run_id)
    assert [e.type for e in entries][-1] == EventType.EXECUTION_COMPLETE.value and len(entries) == 3
    assert info.owner == rescuer.log.worker_id


async def test_consumers_left_by_dead_workers_are_pruned_but_not_ones_holding_a_job(redis_prefix: str) -> None:
    async with RunManager(RedisRunLog(REDIS_URL, prefix=redis_prefix, lease=3.0), block=0.2) as runs:
        log = runs.log
        assert isinstance(log, RedisRunLog)
        queue = f"{redis_prefix}queue"
        client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            await client.xgroup_createconsumer(queue, "workers", "killed-idle")  # a worker killed with nothing taken
            await runs.submit({"n": 1})
            taken = await client.xreadgroup("workers", "killed-busy", {queue: ">"}, count=1)  # killed holding a job
            assert taken
            await client.xgroup_createconsumer(queue, "workers", "alive")
            before = {c["name"] for c in await client.xinfo_consumers(queue, "workers")}
            assert {"killed-idle", "killed-busy", "alive"} <= before
            # Every consumer here is younger than an hour: nothing goes.
            assert await log.prune_consumers(idle=3600) == 0
            # Idle for more than 0 s: the ones without a job go; the one holding a job stays for XAUTOCLAIM.
            await asyncio.sleep(0.01)
            dropped = await log.prune_consumers(idle=0.001)
            after = {c["name"] for c in await client.xinfo_consumers(queue, "workers")}
        finally:
            await client.aclose()
    assert "killed-busy" in after and "killed-idle" not in after and "alive" not in after
    assert dropped == len(before - after) >= 2
