"""Tool approval: calls that wait for a human decision, in the stream and across a restart.

Against the fake model server over loopback on both wire formats; the restart test kills a real
process at the moment approval is requested and resumes from the SQLite file in this one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from contextlib import aclosing
from pathlib import Path

import pytest

from tyler import Agent, EventType, Message, Thread, ThreadStore, tool
from tyler.approval import AWAITING
from tyler.exceptions import ConfigurationError
from tyler.testing import FakeModelServer, FakeToolCall, Turn

BOTH = pytest.mark.parametrize("model", ["gpt-4o", "anthropic/claude-sonnet-4-5"])
E = EventType
RAN: list[tuple[str, float]] = []


@tool(requires_approval=True)
def transfer(to: str, amount: float) -> str:
    """Send money."""
    RAN.append((to, amount))
    return f"sent {amount} to {to}"


@tool(requires_approval=lambda args: args["amount"] > 100)
def pay(to: str, amount: float) -> str:
    """Pay a bill; large amounts need approval."""
    RAN.append((to, amount))
    return f"paid {amount} to {to}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def thread_of(text: str = "Send 50 to Bob.") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def stream_deciding(agent: Agent, decide) -> list:
    """Stream a run to its end, awaiting `decide(event)` at each APPROVAL_REQUESTED."""
    seen = []
    async with asyncio.timeout(30), aclosing(agent.stream(thread_of())) as events:
        async for event in events:
            seen.append(event)
            if event.type is E.APPROVAL_REQUESTED:
                await decide(event)
    return seen


@BOTH
async def test_approved_call_runs(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("transfer", {"to": "Bob", "amount": 50})]), Turn(text="Done."))
    agent = Agent(model_name=model, tools=[transfer])

    async def decide(event):
        assert event.data["arguments"] == {"to": "Bob", "amount": 50}
        assert RAN == []  # nothing runs before the decision
        assert [r.tool_call_id for r in agent.pending_approvals()] == [event.data["tool_call_id"]]
        await agent.approve(event.data["tool_call_id"])

    seen = await stream_deciding(agent, decide)
    kinds = [e.type for e in seen if e.type.name.startswith(("TOOL_", "APPROVAL_"))]
    assert kinds == [E.TOOL_SELECTED, E.APPROVAL_REQUESTED, E.APPROVAL_RESOLVED, E.TOOL_EXECUTING, E.TOOL_RESULT]
    assert RAN == [("Bob", 50)]
    assert seen[-1].type is E.EXECUTION_COMPLETE
    assert agent.pending_approvals() == []


@BOTH
async def test_denied_call_tells_the_model(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("transfer", {"to": "Eve", "amount": 5000})]), Turn(text="OK, I won't."))
    agent = Agent(model_name=model, tools=[transfer])
    seen = await stream_deciding(agent, lambda e: agent.deny(e.data["tool_call_id"], "Eve is not a known payee"))
    assert RAN == []
    resolved = next(e for e in seen if e.type is E.APPROVAL_RESOLVED)
    assert resolved.data["approved"] is False and resolved.data["reason"] == "Eve is not a known payee"
    error = next(e for e in seen if e.type is E.TOOL_ERROR)
    assert error.data["error_type"] == "ApprovalDenied"
    sent = str(env.requests[1].messages[-1])
    assert "the user denied this tool call: Eve is not a known payee" in sent
    assert seen[-1].type is E.EXECUTION_COMPLETE


async def test_predicate_and_handler_with_go(env: FakeModelServer) -> None:
    asked = []

    async def handler(request):
        asked.append((request.tool_name, request.arguments["amount"]))
        return (False, "over budget") if request.arguments["amount"] > 1000 else True

    env.enqueue(
        Turn(tool_calls=[
            FakeToolCall("pay", {"to": "gas", "amount": 40}),
            FakeToolCall("pay", {"to": "rent", "amount": 900}),
            FakeToolCall("pay", {"to": "yacht", "amount": 90000}),
        ]),
        Turn(text="Paid gas and rent."),
    )
    result = await Agent(model_name="gpt-4o", tools=[pay], approval_handler=handler).run(thread_of())
    assert result.content == "Paid gas and rent."
    assert asked == [("pay", 900), ("pay", 90000)]  # the small payment needed no approval
    assert sorted(RAN) == [("gas", 40), ("rent", 900)]
    tool_messages = [m for m in result.new_messages if m.role == "tool"]
    assert "over budget" in tool_messages[2].content and tool_messages[2].attributes["error"]


async def test_other_calls_run_while_one_waits(env: FakeModelServer) -> None:
    env.enqueue(
        Turn(tool_calls=[
            FakeToolCall("pay", {"to": "big", "amount": 500}), FakeToolCall("pay", {"to": "small", "amount": 5}),
        ]),
        Turn(text="ok"),
    )
    agent = Agent(model_name="gpt-4o", tools=[pay])
    async with asyncio.timeout(30), aclosing(agent.stream(thread_of())) as events:
        async for event in events:
            if event.type is E.TOOL_RESULT and event.data["result"] == "paid 5.0 to small":
                assert RAN == [("small", 5)]  # the waiting call did not hold it back
                await agent.approve(agent.pending_approvals()[0].tool_call_id)
    assert sorted(RAN) == [("big", 500), ("small", 5)]


async def test_bad_approval_calls_are_clear_errors(env: FakeModelServer) -> None:
    agent = Agent(model_name="gpt-4o", tools=[transfer])
    with pytest.raises(ConfigurationError, match="no tool call 'nope' is waiting"):
        await agent.approve("nope")

    def broken(args: dict) -> bool:
        raise KeyError("amount")

    @tool(requires_approval=broken)
    def risky() -> str:
        """A tool whose approval rule fails."""
        return "ran"

    env.enqueue(Turn(tool_calls=[FakeToolCall("risky", {})]), Turn(text="ok"))
    events = [e async for e in Agent(model_name="gpt-4o", tools=[risky]).stream(thread_of())]
    error = next(e for e in events if e.type is E.TOOL_ERROR)
    assert "requires_approval failed: KeyError" in error.data["error"]


async def test_stopped_while_waiting_leaves_the_call_for_later(env: FakeModelServer, tmp_path: Path) -> None:
    store = await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    env.enqueue(Turn(tool_calls=[FakeToolCall("transfer", {"to": "Bob", "amount": 1})]), Turn(text="Sent."))
    agent = Agent(model_name="gpt-4o", tools=[transfer], thread_store=store)
    thread = thread_of()
    async with aclosing(agent.stream(thread)) as events:
        async for event in events:
            if event.type is E.APPROVAL_REQUESTED:
                call_id = event.data["tool_call_id"]
                break
    stored = await store.get_thread(thread.id)
    assert stored.messages[-1].role == "assistant" and stored.messages[-1].attributes[AWAITING] == [call_id]
    result_events = []
    async for event in agent.stream(thread.id):  # the same process, a later run
        result_events.append(event)
        if event.type is E.APPROVAL_REQUESTED:
            assert event.data["tool_call_id"] == call_id
            await agent.approve(call_id)
    assert RAN == [("Bob", 1)]
    final = await store.get_thread(thread.id)
    assert [m.role for m in final.messages] == ["user", "assistant", "tool", "assistant"]
    assert AWAITING not in final.messages[1].attributes
    await store.close()


SCRIPT = textwrap.dedent('''
    import asyncio, os, sys
    from tyler import Agent, Message, Thread, ThreadStore, EventType, tool

    @tool(requires_approval=True)
    def transfer(to: str, amount: float) -> str:
        """Send money."""
        return f"sent {amount} to {to}"

    async def main():
        store = await ThreadStore.create(sys.argv[1])
        agent = Agent(model_name="anthropic/claude-sonnet-4-5", tools=[transfer], thread_store=store)
        thread = Thread(id="payments")
        thread.add_message(Message(role="user", content="Send 10 to Bob."))
        async for event in agent.stream(thread):
            if event.type == EventType.APPROVAL_REQUESTED:
                print(event.data["tool_call_id"], flush=True)
                os._exit(0)  # killed while waiting: no cleanup of any kind runs

    asyncio.run(main())
''')


async def test_resumed_after_restart_in_a_new_process(env: FakeModelServer, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    env.enqueue(Turn(tool_calls=[FakeToolCall("transfer", {"to": "Bob", "amount": 10})]))
    script = tmp_path / "first.py"
    script.write_text(SCRIPT)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script), url], env={**os.environ, **env.env()},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    call_id = proc.stdout.strip()

    env.enqueue(Turn(text="Sent 10 to Bob."))
    async with ThreadStore(url) as store:
        agent = Agent(model_name="anthropic/claude-sonnet-4-5", tools=[transfer], thread_store=store)
        asked = []
        async for event in agent.stream("payments"):
            if event.type is E.APPROVAL_REQUESTED:
                asked.append(event.data)
                await agent.approve(event.data["tool_call_id"])
            last = event
        assert [a["tool_call_id"] for a in asked] == [call_id]
        assert asked[0]["arguments"] == {"to": "Bob", "amount": 10}
        assert last.type is E.EXECUTION_COMPLETE
        assert RAN == [("Bob", 10)]
        thread = await store.get_thread("payments")
        assert [m.role for m in thread.messages] == ["user", "assistant", "tool", "assistant"]
        assert thread.messages[2].content == "sent 10.0 to Bob"
    # The model saw the call answered on the resumed run.
    blocks = env.requests[-1].messages[-1]["content"]
    assert blocks[0]["type"] == "tool_result" and blocks[0]["content"] == "sent 10.0 to Bob"
