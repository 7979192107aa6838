"""MCP tools through the Agent: scripted model calls, progress events, servers closed with the agent."""

from __future__ import annotations

import pytest
from mcp_process import alive, wait_for_exit

from tyler import Agent, EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def _thread(text: str) -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def test_agent_calls_mcp_tool_with_progress_events(env: FakeModelServer, stdio_config: dict) -> None:
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("test__count_slowly", {"steps": 3})]),
        Turn(tool_calls=[FakeToolCall("test__pid", {})]),
        Turn(text="All counted."),
    )
    async with Agent(name="mcp-user", model_name="gpt-4o", mcp=stdio_config) as agent:
        events = [e async for e in agent.stream(_thread("count to three"))]
        kinds = [e.type for e in events]
        assert kinds[-1] == EventType.EXECUTION_COMPLETE
        progress = [e.data for e in events if e.type == EventType.TOOL_PROGRESS]
        assert [(p["progress"], p["total"], p["message"]) for p in progress] == [
            (1, 3, "step 1 of 3"),
            (2, 3, "step 2 of 3"),
            (3, 3, "step 3 of 3"),
        ]
        assert all(p["tool_name"] == "test__count_slowly" for p in progress)
        results = [e.data for e in events if e.type == EventType.TOOL_RESULT]
        assert results[0]["result"] == "counted to 3"
        # Progress comes before the result of the same call.
        assert kinds.index(EventType.TOOL_PROGRESS) < kinds.index(EventType.TOOL_RESULT)
        pid = int(results[1]["result"])
        assert alive(pid)
        # The model saw the MCP tools with their prefixed names and schemas.
        offered = {t["function"]["name"] for t in env.requests[0].body["tools"]}
        assert {"test__add", "test__count_slowly", "test__fail"} <= offered
    await wait_for_exit(pid)
    assert not alive(pid), "leaving `async with agent` must stop the MCP server process"


async def test_mcp_tool_error_becomes_tool_error_event(env: FakeModelServer, http_server: str) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("web__fail", {"message": "quota exceeded"})]), Turn(text="Sorry."))
    agent = Agent(
        name="mcp-user",
        model_name="gpt-4o",
        mcp={"servers": [{"name": "web", "transport": "streamablehttp", "url": http_server}]},
    )
    try:
        events = [e async for e in agent.stream(_thread("try it"))]
    finally:
        await agent.close()
    errors = [e.data for e in events if e.type == EventType.TOOL_ERROR]
    assert len(errors) == 1 and "quota exceeded" in str(errors[0])
    tool_message = env.requests[1].messages[-1]
    assert tool_message["role"] == "tool" and "quota exceeded" in tool_message["content"]
    assert events[-1].type == EventType.EXECUTION_COMPLETE


async def test_unreachable_mcp_server_fails_the_run_clearly(env: FakeModelServer) -> None:
    agent = Agent(
        name="mcp-user", model_name="gpt-4o", mcp={"servers": [{"name": "ghost", "command": "/nonexistent/server"}]}
    )
    events = [e async for e in agent.stream(_thread("hi"))]
    await agent.close()
    assert events[-1].type == EventType.EXECUTION_ERROR
    assert "ghost" in str(events[-1].data)
    assert env.requests == []  # the model was never called


@pytest.mark.parametrize("transport", ["stdio", "streamablehttp"])
async def test_go_with_mcp_tools(env: FakeModelServer, stdio_config: dict, http_server: str, transport: str) -> None:
    config = (
        stdio_config
        if transport == "stdio"
        else {"servers": [{"name": "test", "transport": "streamablehttp", "url": http_server}]}
    )
    env.enqueue(Turn(tool_calls=[FakeToolCall("test__add", {"a": 20, "b": 22})]), Turn(text="It is 42."))
    async with Agent(name="calc", model_name="gpt-4o", mcp=config) as agent:
        result = await agent.go(_thread("what is 20 + 22?"))
    assert result.content == "It is 42."
    assert env.requests[1].messages[-1]["content"] == "42"


async def test_a_run_keeps_the_tool_set_it_started_with(env: FakeModelServer, http_server: str) -> None:
    """`Agent.close()` mid-run drops the MCP tools for later runs, not for the run under way."""
    agent: Agent

    async def close_agent() -> str:
        """Close the agent's MCP servers while the run is going."""
        await agent.close()
        return "closed"

    env.enqueue(Turn(tool_calls=[FakeToolCall("close_agent", {})]), Turn(text="Done."))
    agent = Agent(
        name="mcp-user", model_name="gpt-4o", tools=[close_agent],
        mcp={"servers": [{"name": "web", "transport": "streamablehttp", "url": http_server}]},
    )
    events = [e async for e in agent.stream(_thread("close yourself"))]
    assert events[-1].type == EventType.EXECUTION_COMPLETE
    offered = [{t["function"]["name"] for t in r.body["tools"]} for r in env.requests]
    assert len(offered) == 2 and "web__add" in offered[0]
    assert offered[1] == offered[0]
    assert [t.name for t in agent.tools] == ["close_agent"]  # the next run starts without them
