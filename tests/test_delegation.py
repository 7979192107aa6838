"""Delegation: child agents as tools, their events nested in the parent's stream, bounded depth.

All three agents talk to the fake model server over loopback HTTP, each with its own model name
(and wire format), so the requests show which agent asked what.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import pytest

from tyler import Agent, EventType, Message, Thread, ThreadStore
from tyler.delegation import delegation_tool
from tyler.exceptions import ConfigurationError
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def user_thread(text: str) -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


def agents(store: ThreadStore | None = None) -> tuple[Agent, Agent, Agent]:
    checker = Agent(name="fact-checker", model_name="gpt-4o-mini", purpose="To check facts.",
                    tools=[word_count], thread_store=store)
    researcher = Agent(name="researcher", model_name="anthropic/claude-sonnet-4-5",
                       purpose="To research topics.", agents=[checker], thread_store=store)
    lead = Agent(name="lead", model_name="gpt-4o", purpose="To answer questions.", agents=[researcher])
    return lead, researcher, checker


def test_children_are_offered_as_tools() -> None:
    lead, researcher, _ = agents()
    tool = {t.name: t for t in lead.tools}["researcher"]
    assert "To research topics." in tool.description
    assert tool.parameters["required"] == ["task"]
    assert list(tool.parameters["properties"]) == ["task"]
    with pytest.raises(ConfigurationError, match="two tools are named 'researcher'"):
        Agent(name="x", agents=[researcher, researcher])
    with pytest.raises(ConfigurationError, match="takes Agent objects"):
        Agent(agents=["researcher"])


async def test_two_levels_deep_events_nested_in_order(env: FakeModelServer, tmp_path: Path) -> None:
    store = await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    lead, _, _ = agents(store)
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "Find the capital of France."})]),
        Turn(tool_calls=[FakeToolCall("fact-checker", {"task": "Is Paris the capital of France?"})]),
        Turn(tool_calls=[FakeToolCall("word_count", {"text": "Paris is the capital"})]),
        Turn(text="Confirmed: Paris.", thinking=None),
        Turn(text="The capital is Paris.", thinking="The checker agreed."),
        Turn(text="Paris is the capital of France."),
    )
    thread = user_thread("What is the capital of France?")
    events = [e async for e in lead.stream(thread)]

    assert [e.type for e in events].count(EventType.EXECUTION_COMPLETE) == 1
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    models = [r.body["model"] for r in env.requests]
    assert models == ["gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini", "gpt-4o-mini", "claude-sonnet-4-5", "gpt-4o"]

    def mark(e):  # (agent, depth) or the parent's own
        return (e.attributes["agent"], e.attributes["depth"]) if e.attributes else ("lead", 0)

    chunks = [(mark(e), e.data["content_chunk"]) for e in events if e.type is EventType.LLM_STREAM_CHUNK]
    said: dict[tuple[str, int], str] = {}
    for who, text in chunks:
        said[who] = said.get(who, "") + text
    assert said == {("fact-checker", 2): "Confirmed: Paris.", ("researcher", 1): "The capital is Paris.",
                    ("lead", 0): "Paris is the capital of France."}
    thinking = [(mark(e), e.data["thinking_chunk"]) for e in events if e.type is EventType.LLM_THINKING_CHUNK]
    assert {who for who, _ in thinking} == {("researcher", 1)}
    # Order: each child's output arrives while its parent's tool runs, before that tool's result.
    order = [(e.type, mark(e)) for e in events if e.type in (EventType.TOOL_EXECUTING, EventType.TOOL_RESULT)]
    assert order == [
        (EventType.TOOL_EXECUTING, ("lead", 0)),
        (EventType.TOOL_EXECUTING, ("researcher", 1)),
        (EventType.TOOL_EXECUTING, ("fact-checker", 2)),
        (EventType.TOOL_RESULT, ("fact-checker", 2)),
        (EventType.TOOL_RESULT, ("researcher", 1)),
        (EventType.TOOL_RESULT, ("lead", 0)),
    ]
    results = [e for e in events if e.type is EventType.TOOL_RESULT]
    assert results[0].data["result"] == "4"
    assert results[1].data["result"] == "Confirmed: Paris."
    assert results[2].data["result"] == "The capital is Paris."
    first_checker = next(i for i, e in enumerate(events) if mark(e)[0] == "fact-checker")
    assert first_checker < next(i for i, e in enumerate(events) if e is results[1])
    # The parent's thread holds only its own messages; the child answered as the tool result.
    assert [m.role for m in thread.messages] == ["user", "assistant", "tool", "assistant"]
    assert thread.messages[2].content == "The capital is Paris."
    # The children ran on their own threads in their own store, linked to the parent's.
    researcher_thread_id = results[2].attributes is None and events[
        next(i for i, e in enumerate(events) if mark(e)[0] == "researcher")].attributes["thread_id"]
    child = await store.get_thread(researcher_thread_id)
    assert child.attributes == {"delegated_by": "lead", "parent_thread_id": thread.id,
                                "parent_tool_call_id": thread.messages[1].tool_calls[0]["id"]}
    assert child.messages[0].content == "Find the capital of France."
    assert child.messages[-1].content == "The capital is Paris."
    await store.close()


async def test_go_returns_only_the_parents_messages(env: FakeModelServer) -> None:
    lead, _, _ = agents()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "t"})]),
        Turn(text="child answer"),
        Turn(text="final"),
    )
    result = await lead.run(user_thread("q"))
    assert result.content == "final"
    assert [m.role for m in result.new_messages] == ["assistant", "tool", "assistant"]
    assert result.new_messages[1].content == "child answer"


async def test_child_failure_is_a_tool_error_the_parent_sees(env: FakeModelServer) -> None:
    lead, _, _ = agents()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "t"})]),
        Turn(status=400, error_message="bad request for the child"),
        Turn(text="The researcher failed."),
    )
    events = [e async for e in lead.stream(user_thread("q"))]
    errors = [e for e in events if e.type is EventType.TOOL_ERROR]
    assert len(errors) == 1 and "agent 'researcher' failed" in errors[0].data["error"]
    assert "bad request for the child" in errors[0].data["error"]
    assert events[-1].type is EventType.EXECUTION_COMPLETE


async def test_cancelling_the_parent_cancels_the_child_mid_stream(env: FakeModelServer, tmp_path: Path) -> None:
    store = await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    lead, _, _ = agents(store)
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "write a lot"})]),
        Turn(text=" ".join(f"w{i}" for i in range(500)), delay=0.02),
    )
    child_thread_id = None
    async with asyncio.timeout(30), aclosing(lead.stream(user_thread("q"))) as events:
        async for event in events:
            if event.type is EventType.LLM_STREAM_CHUNK and event.attributes and "w3" in event.data["content_chunk"]:
                child_thread_id = event.attributes["thread_id"]
                break
    assert child_thread_id is not None
    assert await env.await_disconnect(timeout=10), "the child's upstream request was not closed"
    assert env.requests[1].body["model"] == "claude-sonnet-4-5" and env.requests[1].disconnected_early
    child = await store.get_thread(child_thread_id)
    assert child.messages[-1].interrupted and child.messages[-1].content.startswith("w0 w1 w2 w3")
    await store.close()


async def test_an_agent_cannot_delegate_to_an_ancestor(env: FakeModelServer) -> None:
    lead, researcher, _ = agents()
    # A cycle needs an agent edited after construction: give the researcher a way back to lead.
    researcher._tools["lead"] = delegation_tool(lead)
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "t"})]),
        Turn(tool_calls=[FakeToolCall("lead", {"task": "loop back"})]),
        Turn(text="I could not delegate back."),
        Turn(text="done"),
    )
    events = [e async for e in lead.stream(user_thread("q"))]
    errors = [e for e in events if e.type is EventType.TOOL_ERROR]
    assert len(errors) == 1 and errors[0].attributes["agent"] == "researcher"
    assert "already running above this call" in errors[0].data["error"]
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert len(env.requests) == 4  # the refused call made no model request


async def test_approval_asked_by_a_child_is_answered_through_the_parent(env: FakeModelServer) -> None:
    from tyler import tool

    @tool(requires_approval=True)
    def publish(text: str) -> str:
        """Publish a text."""
        return "published"

    writer = Agent(name="writer", model_name="gpt-4o-mini", purpose="To publish.", tools=[publish])
    lead = Agent(name="lead", model_name="gpt-4o", purpose="To lead.", agents=[writer])
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("writer", {"task": "publish hi"})]),
        Turn(tool_calls=[FakeToolCall("publish", {"text": "hi"})]),
        Turn(text="It is published."),
        Turn(text="Done."),
    )
    asked = []
    async with asyncio.timeout(30), aclosing(lead.stream(user_thread("go"))) as events:
        async for event in events:
            if event.type is EventType.APPROVAL_REQUESTED:
                asked.append(event.attributes["agent"])
                assert [r.tool_name for r in lead.pending_approvals()] == ["publish"]
                await lead.approve(event.data["tool_call_id"])
            last = event
    assert asked == ["writer"] and last.type is EventType.EXECUTION_COMPLETE
    assert lead.pending_approvals() == [] and writer.pending_approvals() == []
