"""Cancellation: break, aclose, task.cancel() mid-stream and during tools; no leaked connections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.providers.transport import default_transport
from tyler.testing import FakeModelServer, FakeToolCall, Turn

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])

LONG = " ".join(f"word{i}" for i in range(200))


def user_thread(text: str = "Tell me a long story") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def wait_until(predicate: Callable[[], bool], within: float = 3.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def stop_when(
    env: FakeModelServer, model: str, stop: Callable[[Any], bool]
) -> tuple[Thread, list[str]]:
    """Stream a run with a recording `lookup` tool and leave at the first event `stop` accepts."""
    calls: list[str] = []

    def lookup(key: str) -> str:
        calls.append(key)
        return key

    thread = user_thread()
    async with aclosing(Agent(model_name=model, tools=[lookup]).stream(thread)) as events:
        async for event in events:
            if stop(event):
                break
    return thread, calls


def busy_connections() -> list[object]:
    """Connections of the shared pool that are not idle (a leaked stream would be one)."""
    connector = default_transport().session.connector
    assert connector is not None
    return list(connector._acquired)  # type: ignore[attr-defined]


@BOTH
async def test_break_with_aclosing_closes_upstream_and_keeps_partial(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    thread = user_thread()
    seen: list[str] = []
    async with aclosing(Agent(model_name=model).stream(thread)) as events:
        async for event in events:
            if event.type is EventType.LLM_STREAM_CHUNK:
                seen.append(event.data["content_chunk"])
                if len(seen) == 3:
                    break
    # aclose() has returned: the partial message is already on the thread.
    partial = thread.messages[-1]
    assert partial.role == "assistant"
    assert partial.interrupted is True
    assert partial.content == "".join(seen) == "word0 word1 word2 "
    assert await env.await_disconnect(timeout=2.0)
    assert env.requests[0].disconnected_early
    assert not env.requests[0].completed


@BOTH
async def test_plain_break_closes_upstream_promptly(env: FakeModelServer, model: str) -> None:
    """The spec's CancellableStream: a bare `break` out of `async for`."""
    env.enqueue(Turn(text=LONG, delay=0.01))
    thread = user_thread()
    seen: list[str] = []
    async for event in Agent(model_name=model).stream(thread):
        if event.type is EventType.LLM_STREAM_CHUNK:
            seen.append(event.data["content_chunk"])
            if len(seen) == 3:
                break
    # The abandoned generator is finalized by the event loop right away (not at shutdown).
    assert await env.await_disconnect(timeout=2.0)
    assert await wait_until(lambda: thread.messages[-1].role == "assistant")
    partial = thread.messages[-1]
    assert partial.interrupted is True
    assert partial.content == "".join(seen)
    assert len(thread.messages) == 2


@BOTH
async def test_task_cancel_during_streaming(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    thread = user_thread()
    seen: list[str] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for event in Agent(model_name=model).stream(thread):
            if event.type is EventType.LLM_STREAM_CHUNK:
                seen.append(event.data["content_chunk"])
                if len(seen) == 3:
                    three.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await env.await_disconnect(timeout=2.0)
    partial = thread.messages[-1]
    assert partial.role == "assistant"
    assert partial.interrupted is True
    assert partial.content == "".join(seen)
    assert len(seen) < 200


async def test_cancel_before_first_byte(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="late", first_byte_delay=5))
    thread = user_thread()
    task = asyncio.create_task(Agent(model_name=OPENAI_MODEL).go(thread))
    assert await wait_until(lambda: len(env.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await env.await_disconnect(timeout=2.0)
    assert [m.role for m in thread.messages] == ["user"]  # nothing was said: nothing to keep


@BOTH
async def test_cancel_during_a_slow_tool(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="Working on it.", tool_calls=[FakeToolCall("slow", {"n": 1})]))
    started = asyncio.Event()
    observed: list[str] = []

    async def slow(n: int) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            observed.append("cancelled")
            raise
        return "finished"

    thread = user_thread()
    task = asyncio.create_task(Agent(model_name=model, tools=[slow]).go(thread))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert observed == ["cancelled"]
    assistant, tool_msg = thread.messages[-2:]
    assert assistant.role == "assistant"
    assert assistant.content == "Working on it."
    assert assistant.interrupted is False  # the model's turn was complete
    assert tool_msg.role == "tool"
    assert tool_msg.tool_call_id == assistant.tool_calls[0]["id"]
    assert tool_msg.interrupted is True
    assert tool_msg.attributes.get("cancelled") is True
    assert "cancelled" in tool_msg.content

    # The thread is valid for the next run: every tool call has its answer.
    env.enqueue(Turn(text="Resumed."))
    thread.add_message(Message(role="user", content="continue"))
    result = await Agent(model_name=model, tools=[slow]).go(thread)
    assert result.content == "Resumed."


async def test_break_during_a_slow_tool_cancels_it(env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("slow", {}), FakeToolCall("fast", {})]))
    observed: list[str] = []

    async def slow() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            observed.append("slow cancelled")
            raise
        return "slow done"

    async def fast() -> str:
        return "fast done"

    thread = user_thread()
    async with aclosing(Agent(model_name=OPENAI_MODEL, tools=[slow, fast]).stream(thread)) as events:
        async for event in events:
            if event.type is EventType.TOOL_RESULT:
                assert event.data["tool_name"] == "fast"
                break
    assert observed == ["slow cancelled"]
    tools = [m for m in thread.messages if m.role == "tool"]
    # Model order is kept; the finished result is kept, the cancelled call is marked.
    assert [m.name for m in tools] == ["slow", "fast"]
    assert tools[0].attributes.get("cancelled") is True
    assert tools[1].content == "fast done"
    assert tools[1].interrupted is False


async def test_many_cancelled_streams_leak_no_connections(env: FakeModelServer) -> None:
    env.enqueue(Turn(text=LONG, delay=0.005), repeat=12)
    agent = Agent(model_name=OPENAI_MODEL)
    for i in range(12):
        thread = user_thread()
        async with aclosing(agent.stream(thread)) as events:
            async for event in events:
                if event.type is EventType.LLM_STREAM_CHUNK:
                    break
        assert thread.messages[-1].interrupted, i
    for i in range(12):
        assert await env.await_disconnect(index=i, timeout=2.0), i
    assert busy_connections() == []
    # Cancel a few as tasks, too.
    env.enqueue(Turn(text=LONG, delay=0.005), repeat=5)
    tasks = [asyncio.create_task(agent.go(user_thread())) for _ in range(5)]
    assert await wait_until(lambda: len(env.requests) == 17 and all(r.chunks_sent for r in env.requests))
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert await wait_until(lambda: all(r.done for r in env.requests))
    assert busy_connections() == []
    # The pool still works.
    env.enqueue(Turn(text="still fine"))
    result = await agent.go(user_thread())
    assert result.content == "still fine"
    assert busy_connections() == []


@BOTH
async def test_break_during_tool_call_streaming_leaves_a_valid_thread(env: FakeModelServer, model: str) -> None:
    env.enqueue(
        Turn(
            text="Let me look.",
            tool_calls=[
                FakeToolCall("lookup", {"key": "a long value to stream"}, chunks=['{"key": ', '"a long ', 'value"}'])
            ],
            delay=0.01,
        )
    )
    thread, calls = await stop_when(
        env, model, lambda e: e.type is EventType.LLM_TOOL_CALL_CHUNK and e.data["arguments_delta"]
    )
    assert calls == []
    partial = thread.messages[-1]
    assert partial.role == "assistant"
    assert partial.interrupted is True
    assert partial.content == "Let me look."
    # Half a tool call must not be sent back as a call without a result.
    assert not partial.tool_calls
    assert partial.attributes["partial_tool_calls"][0]["function"]["name"] == "lookup"
    assert await env.await_disconnect(timeout=2.0)
    env.enqueue(Turn(text="Resumed."))
    thread.add_message(Message(role="user", content="go on"))
    assert (await Agent(model_name=model).go(thread)).content == "Resumed."
    assert "tool_use" not in str(env.requests[-1].body["messages"])
    assert "tool_calls" not in str(env.requests[-1].body["messages"])


@BOTH
@pytest.mark.parametrize("stop_on", [EventType.LLM_RESPONSE, EventType.MESSAGE_CREATED])
async def test_stop_after_the_tool_call_message_before_tools_run(
    env: FakeModelServer, model: str, stop_on: EventType
) -> None:
    # The assistant message with complete tool calls is on the thread, the tools have not started:
    # each call still gets an answer, else the provider refuses the next request with a 400.
    env.enqueue(Turn(tool_calls=[FakeToolCall("lookup", {"key": "k"})]))
    thread, calls = await stop_when(env, model, lambda e: e.type is stop_on)
    assert calls == []
    call_message, answer = thread.messages[-2:]
    assert call_message.tool_calls and not call_message.interrupted
    assert answer.role == "tool" and answer.interrupted
    assert answer.tool_call_id == call_message.tool_calls[0]["id"]
    env.enqueue(Turn(text="Resumed."))
    thread.add_message(Message(role="user", content="go on"))
    assert (await Agent(model_name=model).go(thread)).content == "Resumed."
