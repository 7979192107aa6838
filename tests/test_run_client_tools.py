"""Client-side tools (`Tool.client`, declared by clients of `tyler serve`): the run ends when the
model calls one, after running the server's own calls of that turn, and leaves the client's owed."""

from __future__ import annotations

from tyler import Agent, EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.tools import Tool


async def _never(**_: object) -> str:
    raise AssertionError("a client tool must not run on the server")


def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: found"


async def test_client_tool_call_ends_the_run_after_server_calls(env: FakeModelServer) -> None:
    client_tool = Tool("get_time", "Time.", {"type": "object", "properties": {}}, _never, client=True)
    agent = Agent(model_name="gpt-4o", tools=[lookup, client_tool], max_retries=0)
    env.enqueue(Turn(tool_calls=[FakeToolCall("lookup", {"city": "Rome"}, id="call_s"),
                                 FakeToolCall("get_time", {}, id="call_c")]))
    thread = Thread(messages=[Message(role="user", content="go")])
    events = [e async for e in agent.stream(thread)]
    types = [e.type for e in events]
    assert types[-1] is EventType.EXECUTION_COMPLETE
    assert [e.data["tool_name"] for e in events if e.type is EventType.TOOL_SELECTED] == ["lookup"]
    assert len(env.requests) == 1  # no second model turn: the client owes get_time's result
    roles = [(m.role, m.tool_call_id) for m in thread.messages]
    assert roles == [("user", None), ("assistant", None), ("tool", "call_s")]
    assert [c["id"] for c in thread.messages[1].tool_calls or []] == ["call_s", "call_c"]
    thread.add_message(Message(role="tool", tool_call_id="call_c", name="get_time", content="noon"))
    env.enqueue(Turn(text="Done."))
    result = await agent.go(thread)
    assert result.content == "Done."
    assert env.requests[1].messages[-1]["content"] == "noon"
