"""Runs that survive what a stored thread or a tool went through (issue 15, items 7, 8, 14).

A thread killed during a tool (kill -9, in a real subprocess) is continued, not answered with
HTTP 400 forever; duplicate tool-call ids from the model get one result each and the thread stays
saveable; a tool that ignores cancellation cannot hold the consumer's `break`; a run stopped
just as its tools start leaves no coroutine never awaited.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import warnings
from contextlib import aclosing
from pathlib import Path

from tyler import Agent, EventType, Message, Thread, ThreadStore
from tyler.testing import FakeModelServer, FakeToolCall, Turn

MODEL = "gpt-4o"

KILLED_DURING_TOOL = """
import asyncio, os, signal, sys
from tyler import Agent, Message, Thread, ThreadStore

def die() -> str:
    '''Kills its own process, as kill -9 would during a long tool.'''
    os.kill(os.getpid(), signal.SIGKILL)
    return "never"

async def main() -> None:
    store = await ThreadStore.create(sys.argv[1])
    thread = Thread(id="killed")
    thread.add_message(Message(role="user", content="run the tool"))
    await Agent(model_name="gpt-4o", tools=[die], thread_store=store).go(thread)

asyncio.run(main())
"""


async def test_a_thread_killed_during_a_tool_can_be_continued(env: FakeModelServer, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"
    env.enqueue(Turn(tool_calls=[FakeToolCall("die", {}, id="call_die")]))
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_DURING_TOOL, url)
    assert await asyncio.wait_for(child.wait(), 120) == -9  # killed mid-tool: the call was saved, its result never was
    store = await ThreadStore.create(url)
    try:
        thread = await store.get_thread("killed")
        assert thread.messages[-1].tool_calls and thread.messages[-1].tool_calls[0]["id"] == "call_die"
        thread.add_message(Message(role="user", content="what happened?"))
        env.enqueue(Turn(text="the tool did not run"))
        result = await Agent(model_name=MODEL, thread_store=store).go(thread)
        assert result.content == "the tool did not run"
        sent = env.requests[-1].body["messages"]
        answer = next(m for m in sent if m["role"] == "tool")
        assert answer["tool_call_id"] == "call_die" and "not run" in answer["content"]
        assert [m["role"] for m in sent][-3:] == ["assistant", "tool", "user"]
        again = await store.get_thread("killed")  # stored as it was, plus the new turn
        assert [m.role for m in again.messages][-3:] == ["assistant", "user", "assistant"]
    finally:
        await store.close()


async def test_duplicate_tool_call_ids_get_one_result_each(env: FakeModelServer, tmp_path: Path) -> None:
    store = await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 'dup.db'}")
    seen: list[str] = []

    def echo(word: str) -> str:
        seen.append(word)
        return word.upper()

    twice = [FakeToolCall("echo", {"word": "a"}, id="dup"), FakeToolCall("echo", {"word": "b"}, id="dup")]
    env.enqueue(Turn(tool_calls=twice))
    env.enqueue(Turn(text="done"))
    try:
        thread = Thread(id="dup-ids")
        thread.add_message(Message(role="user", content="twice"))
        result = await Agent(model_name=MODEL, tools=[echo], thread_store=store).go(thread)
        assert result.content == "done" and sorted(seen) == ["a", "b"]
        stored = await store.get_thread("dup-ids")
        calls = stored.messages[1].tool_calls or []
        assert len({c["id"] for c in calls}) == 2
        results = [m for m in stored.messages if m.role == "tool"]
        assert sorted(m.content for m in results) == ["A", "B"]
        assert [m.tool_call_id for m in results] == [c["id"] for c in calls]
    finally:
        await store.close()


async def test_break_is_not_held_by_a_tool_that_ignores_cancellation(env: FakeModelServer) -> None:
    started = asyncio.Event()
    finished = asyncio.Event()

    async def stubborn() -> str:
        """Catches the cancellation and goes on working."""
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(20)
        finished.set()
        return "late"

    env.enqueue(Turn(tool_calls=[FakeToolCall("stubborn", {})]))
    thread = Thread()
    thread.add_message(Message(role="user", content="go"))
    agent = Agent(model_name=MODEL, tools=[stubborn])
    async with aclosing(agent.stream(thread)) as events:
        async for event in events:
            if event.type is EventType.TOOL_EXECUTING:
                await asyncio.wait_for(started.wait(), 30)
                break
        begun = time.monotonic()
    waited = time.monotonic() - begun
    assert waited < 10, f"break waited {waited:.1f} s for a tool that ignores cancellation"  # 20 s without the bound
    assert not finished.is_set()
    assert thread.messages[-1].role == "tool" and thread.messages[-1].attributes.get("cancelled")


async def test_stopping_as_tools_start_leaves_no_coroutine_unawaited(env: FakeModelServer) -> None:
    async def lookup(key: str) -> str:
        return key

    env.enqueue(Turn(tool_calls=[FakeToolCall("lookup", {"key": "a"}), FakeToolCall("lookup", {"key": "b"})]))
    thread = Thread()
    thread.add_message(Message(role="user", content="go"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with aclosing(Agent(model_name=MODEL, tools=[lookup]).stream(thread)) as events:
            async for event in events:
                if event.type is EventType.TOOL_EXECUTING:
                    break  # the tool tasks exist but have not run yet
        gc.collect()
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert unawaited == []
