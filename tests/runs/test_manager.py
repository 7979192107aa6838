"""RunManager on both backends: replay, resume at every position, detach, cancel, bounds, bad ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from _runs_support import LogFactory, make_log_fixture, wait_for  # noqa: F401  (a fixture)

from tyler import Agent, EventType, ExecutionEvent, Message, Thread
from tyler.exceptions import EventIdError, RunLimitError, RunLogError, RunNotFoundError
from tyler.runs import LogEntry, MemoryRunLog, RunManager, RunStatus
from tyler.testing import FakeModelServer, FakeToolCall, Turn

LONG = " ".join(f"word{i}" for i in range(300))


def chunk(i: int) -> ExecutionEvent:
    return ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": f"c{i} ", "message_id": "m"})


async def scripted(count: int, gate: asyncio.Event | None = None, gate_at: int = 0) -> AsyncIterator[ExecutionEvent]:
    """`count` chunk events then EXECUTION_COMPLETE; before event `gate_at` it waits for `gate`."""
    for i in range(1, count + 1):
        if gate is not None and i == gate_at:
            await gate.wait()
        yield chunk(i)
    yield ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0})


async def collect(runs: RunManager, run_id: str, after: str | None = None, stop: int | None = None) -> list[LogEntry]:
    out: list[LogEntry] = []
    async for entry in runs.subscribe(run_id, after):
        out.append(entry)
        if stop is not None and len(out) == stop:
            break
    return out


def user_thread(text: str = "Tell me a long story") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def test_finished_run_replays_whole_with_increasing_ids(make_log: LogFactory, env: FakeModelServer) -> None:
    env.enqueue(
        Turn(thinking="Let me look.", tool_calls=[FakeToolCall("lookup", {"key": "k1"})]),
        Turn(text="Found it: k1."),
    )

    def lookup(key: str) -> str:
        return f"value of {key}"

    async with RunManager(make_log()) as runs:
        run_id = await runs.start(Agent(model_name="gpt-4o", tools=[lookup]).stream(user_thread()))
        await runs.wait(run_id)
        entries = await collect(runs, run_id)
        info = await runs.status(run_id)
    types = [e.type for e in entries]
    assert types[-1] == EventType.EXECUTION_COMPLETE and types.count(EventType.EXECUTION_COMPLETE) == 1
    assert EventType.TOOL_RESULT in types and EventType.LLM_THINKING_CHUNK in types
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert len({e.id for e in entries}) == len(entries)
    text = "".join(e.event().data["content_chunk"] for e in entries if e.type == EventType.LLM_STREAM_CHUNK)
    assert text == "Found it: k1."
    final = entries[-1].event()
    assert final.data["new_messages"][-1].content == "Found it: k1."  # rebuilt as a Message
    assert info.status is RunStatus.COMPLETED and info.error is None


async def test_resume_after_every_position_is_exactly_the_rest(make_log: LogFactory) -> None:
    async with RunManager(make_log()) as runs:
        run_id = await runs.start(scripted(12))
        await runs.wait(run_id)
        full = await collect(runs, run_id)
        assert len(full) == 13
        for k, entry in enumerate(full):
            assert await collect(runs, run_id, after=entry.id) == full[k + 1:]


async def test_resume_mid_run_meets_the_live_tail_without_gap_or_duplicate(make_log: LogFactory) -> None:
    gate = asyncio.Event()
    async with RunManager(make_log(), block=0.2) as runs:
        run_id = await runs.start(scripted(60, gate, gate_at=31), metadata={"thread_id": "t1"})
        assert await runs.active_run("t1") == run_id and await runs.active_run("t2") is None
        first = await collect(runs, run_id, stop=10)  # the client drops after event 10
        resumed: list[LogEntry] = []

        async def reader() -> None:
            async for entry in runs.subscribe(run_id, after=first[-1].id):
                resumed.append(entry)

        task = asyncio.create_task(reader())
        await wait_for(lambda: _true(len(resumed) >= 20))  # replay caught up with the produced part
        assert (await runs.status(run_id)).status is RunStatus.RUNNING
        gate.set()  # the rest arrives live
        await asyncio.wait_for(task, 30)
        reference = await collect(runs, run_id)
        assert await runs.active_run("t1") is None  # ended: nothing to reconnect to
    assert first + resumed == reference
    assert [e.seq for e in resumed] == list(range(11, 62))
    assert resumed[-1].type == EventType.EXECUTION_COMPLETE


async def _true(value: bool) -> bool:
    return value


async def test_client_disconnect_detaches_and_the_run_completes(make_log: LogFactory, env: FakeModelServer) -> None:
    env.enqueue(Turn(text=LONG, delay=0.002))
    thread = user_thread()
    async with RunManager(make_log()) as runs:
        run_id = await runs.start(Agent(model_name="gpt-4o").stream(thread))
        seen = await collect(runs, run_id, stop=4)
        assert all(e.type != EventType.EXECUTION_COMPLETE for e in seen)
        await runs.wait(run_id)
        assert (await runs.status(run_id)).status is RunStatus.COMPLETED
    assert thread.messages[-1].content == LONG and not thread.messages[-1].interrupted
    assert not env.requests[0].disconnected_early


async def test_cancel_closes_upstream_keeps_partial_and_ends_the_log(
    make_log: LogFactory, env: FakeModelServer
) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    thread = user_thread()
    async with RunManager(make_log()) as runs:
        run_id = await runs.start(Agent(model_name="gpt-4o").stream(thread))
        entries: list[LogEntry] = []
        async for entry in runs.subscribe(run_id):
            entries.append(entry)
            if entry.type == EventType.LLM_STREAM_CHUNK and sum(e.type == entry.type for e in entries) == 3:
                assert await runs.cancel(run_id)
        info = await runs.status(run_id)
        assert not await runs.cancel(run_id)  # already over
    assert info.status is RunStatus.CANCELLED
    last = json.loads(entries[-1].data)
    assert last["type"] == "execution_error" and last["data"]["error_type"] == "RunCancelledError"
    assert sum(e.is_terminal for e in entries) == 1
    assert await env.await_disconnect(timeout=10.0)
    assert thread.messages[-1].role == "assistant" and thread.messages[-1].interrupted


async def test_a_failed_run_is_failed_with_its_error_event(make_log: LogFactory, env: FakeModelServer) -> None:
    env.enqueue(Turn(status=400))
    async with RunManager(make_log()) as runs:
        run_id = await runs.start(Agent(model_name="gpt-4o", max_retries=0).stream(user_thread()))
        entries = await collect(runs, run_id)
        info = await runs.status(run_id)
    assert entries[-1].type == EventType.EXECUTION_ERROR
    assert info.status is RunStatus.FAILED and info.error


async def test_bad_ids_are_typed_errors(make_log: LogFactory) -> None:
    async with RunManager(make_log()) as runs:
        run_id = await runs.start(scripted(3))
        await runs.wait(run_id)
        full = await collect(runs, run_id)
        with pytest.raises(EventIdError) as malformed:
            await collect(runs, run_id, after="not an id")
        assert not malformed.value.expired
        other = "99999999999999-0" if "-" in full[0].id else "999"
        with pytest.raises(EventIdError) as unknown:
            await collect(runs, run_id, after=other)
        assert unknown.value.expired
        with pytest.raises(RunNotFoundError):
            await collect(runs, "run_nope")
        with pytest.raises(RunNotFoundError):
            await runs.status("run_nope")
        with pytest.raises(RunLogError):
            await runs.status("../etc/passwd")
        with pytest.raises(RunLogError, match="already exists"):
            await runs.start(scripted(1), run_id=run_id)
        assert not await runs.cancel("run_nope")


async def test_run_limit_refuses_and_closes_the_stream(make_log: LogFactory) -> None:
    gate = asyncio.Event()
    closed: list[bool] = []

    async def watched() -> AsyncIterator[ExecutionEvent]:
        try:
            yield chunk(1)
        finally:
            closed.append(True)

    async with RunManager(make_log(), max_runs=1) as runs:
        first = await runs.start(scripted(3, gate, gate_at=2))
        stream = watched()
        await stream.__anext__()  # started, so closing it runs its finally
        with pytest.raises(RunLimitError):
            await runs.start(stream)
        assert closed == [True]
        gate.set()
        await runs.wait(first)
        second = await runs.start(scripted(1))  # room again
        await runs.wait(second)
        assert (await runs.status(second)).status is RunStatus.COMPLETED


async def test_capped_log_refuses_a_resume_it_cannot_serve_whole(make_log: LogFactory) -> None:
    async with RunManager(make_log(max_events=10)) as runs:
        run_id = await runs.start(scripted(600))
        await runs.wait(run_id)
        with pytest.raises(EventIdError) as whole:
            await collect(runs, run_id)  # entry 1 was dropped: no silent partial replay
        assert whole.value.expired


async def events_gone(runs: RunManager, run_id: str) -> bool:
    """True once the run's events are past retention (a replay is refused as expired)."""
    try:
        await collect(runs, run_id)
    except EventIdError as exc:
        return exc.expired
    return False


async def test_a_replay_the_log_expires_under_ends_with_an_error_not_silently(make_log: LogFactory) -> None:
    # A reader replaying a finished run when its events pass retention must not just stop: its
    # client would take the cut replay for the whole run. It gets EventIdError(expired) instead
    # (the server turns it into a terminal EXECUTION_ERROR).
    async with RunManager(make_log(retention=0.3, record_retention=60.0)) as runs:
        run_id = await runs.start(scripted(300))  # more than one read's worth (256)
        await runs.wait(run_id)
        replay = runs.subscribe(run_id)
        first = await anext(replay)
        assert first.seq == 1

        await wait_for(lambda: events_gone(runs, run_id))
        got = [first]
        with pytest.raises(EventIdError) as cut:
            async for entry in replay:
                got.append(entry)
        assert cut.value.expired
        assert [e.seq for e in got] == list(range(1, len(got) + 1)) and not any(e.is_terminal for e in got)
        await replay.aclose()


async def test_finished_runs_expire_after_retention(make_log: LogFactory) -> None:
    async with RunManager(make_log(retention=0.3, record_retention=2.0)) as runs:
        run_id = await runs.start(scripted(2))
        await runs.wait(run_id)
        assert len(await collect(runs, run_id)) == 3

        await wait_for(lambda: events_gone(runs, run_id))  # the events go first; the status record stays longer
        assert (await runs.status(run_id)).status is RunStatus.COMPLETED

        async def gone() -> bool:
            try:
                await runs.status(run_id)
            except RunNotFoundError:
                return True
            return False

        await wait_for(gone)
        with pytest.raises(RunNotFoundError):
            await collect(runs, run_id)


async def test_closing_the_manager_ends_its_runs(make_log: LogFactory) -> None:
    gate = asyncio.Event()  # never set: the run would wait forever
    log = make_log()
    runs = await RunManager(log).open()
    run_id = await runs.start(scripted(5, gate, gate_at=2))
    entries = await collect(runs, run_id, stop=1)
    assert entries[0].seq == 1
    await runs.close()
    assert not runs.active
    if isinstance(log, MemoryRunLog):
        info = await log.info(run_id)
    else:  # another worker's view of the same Redis
        async with RunManager(make_log()) as other:
            info = await other.status(run_id)
            entries = await collect(other, run_id)
        assert entries[-1].event().data["error_type"] == "RunCancelledError"
    assert info is not None and info.status is RunStatus.FAILED and "shut down" in (info.error or "")
