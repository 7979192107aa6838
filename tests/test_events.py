"""ExecutionEvent, EventType and AgentResult as values users build, compare and serialize."""

from __future__ import annotations

import json
import re
import types
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from typing_extensions import is_typeddict

import tyler.events
from tyler import Agent, AgentResult, EventType, ExecutionEvent, Message, Thread, tool
from tyler.events import EVENT_DATA
from tyler.messages import TokenUsage, ToolCall
from tyler.models.execution import EventType as CompatEventType
from tyler.models.execution import ExecutionEvent as CompatExecutionEvent
from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.tools import ToolContext


def test_user_constructible_as_in_the_spec() -> None:
    event = ExecutionEvent(
        type=EventType.EXECUTION_ERROR, timestamp=datetime.now(), data={"message": "Stream timed out"}
    )
    assert event.type is EventType.EXECUTION_ERROR
    assert event.data["message"] == "Stream timed out"
    assert event.attributes is None
    assert CompatExecutionEvent is ExecutionEvent and CompatEventType is EventType


def test_defaults_and_positional_construction() -> None:
    event = ExecutionEvent(EventType.LLM_STREAM_CHUNK)
    assert event.data == {}
    assert event.timestamp.tzinfo is not None
    assert ExecutionEvent(EventType.ITERATION_START, event.timestamp, {"a": 1}).data == {"a": 1}
    assert ExecutionEvent(EventType.ITERATION_START, event.timestamp, {"a": 1}) == ExecutionEvent(
        EventType.ITERATION_START, event.timestamp, {"a": 1}
    )


def test_event_types_are_stable_strings() -> None:
    expected = {
        "ITERATION_START": "iteration_start",
        "CONTEXT_TRIMMED": "context_trimmed",
        "LLM_REQUEST": "llm_request",
        "LLM_STREAM_CHUNK": "llm_stream_chunk",
        "LLM_THINKING_CHUNK": "llm_thinking_chunk",
        "LLM_TOOL_CALL_CHUNK": "llm_tool_call_chunk",
        "LLM_RESPONSE": "llm_response",
        "TOOL_SELECTED": "tool_selected",
        "TOOL_EXECUTING": "tool_executing",
        "TOOL_PROGRESS": "tool_progress",
        "TOOL_RESULT": "tool_result",
        "TOOL_ERROR": "tool_error",
        "APPROVAL_REQUESTED": "approval_requested",
        "APPROVAL_RESOLVED": "approval_resolved",
        "MESSAGE_CREATED": "message_created",
        "ITERATION_LIMIT": "iteration_limit",
        "STRUCTURED_OUTPUT_INVALID": "structured_output_invalid",
        "EXECUTION_ERROR": "execution_error",
        "EXECUTION_COMPLETE": "execution_complete",
    }
    assert {e.name: e.value for e in EventType} == expected
    assert EventType("llm_stream_chunk") is EventType.LLM_STREAM_CHUNK
    assert EventType.LLM_STREAM_CHUNK == "llm_stream_chunk"
    assert str(EventType.TOOL_RESULT) == "tool_result"
    assert json.dumps({"t": EventType.TOOL_RESULT}) == '{"t": "tool_result"}'


def test_is_terminal() -> None:
    assert {e for e in EventType if e.is_terminal} == {EventType.EXECUTION_COMPLETE, EventType.EXECUTION_ERROR}


def test_to_dict_is_json_ready() -> None:
    message = Message(role="assistant", content="hi", reasoning_content="hmm")
    event = ExecutionEvent(
        EventType.MESSAGE_CREATED, data={"message": message, "nested": [{"m": message}], "when": datetime(2025, 1, 1)}
    )
    out = json.loads(json.dumps(event.to_dict()))
    assert out["type"] == "message_created"
    assert out["data"]["message"]["content"] == "hi"
    assert out["data"]["message"]["reasoning_content"] == "hmm"
    assert out["data"]["nested"][0]["m"]["id"] == message.id
    assert out["data"]["when"] == "2025-01-01T00:00:00"
    assert datetime.fromisoformat(out["timestamp"]) == event.timestamp


async def test_every_event_of_a_run_serializes(env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="let me think", text="ok"))
    thread = Thread()
    thread.add_message(Message(role="user", content="hi"))
    types = []
    async for event in Agent(model_name="o1-preview").stream(thread):
        json.dumps(event.to_dict())
        types.append(event.type)
    assert EventType.EXECUTION_COMPLETE in types


async def test_spec_safe_stream_wrapper(env: FakeModelServer) -> None:
    """The spec's error-handling wrapper yields user-built events next to the agent's."""
    env.enqueue(Turn(text="fine"))

    async def safe_stream(agent: Agent, thread: Thread) -> AsyncIterator[ExecutionEvent]:
        try:
            async for update in agent.stream(thread):
                yield update
        except Exception as e:  # pragma: no cover - the spec's shape
            yield ExecutionEvent(
                type=EventType.EXECUTION_ERROR, timestamp=datetime.now(), data={"message": f"Stream error: {e!s}"}
            )

    thread = Thread()
    thread.add_message(Message(role="user", content="hi"))
    events = [e async for e in safe_stream(Agent(model_name="gpt-4"), thread)]
    assert events[-1].type is EventType.EXECUTION_COMPLETE


def test_agent_result_fields() -> None:
    thread = Thread()
    reply = Message(role="assistant", content="done")
    result = AgentResult(
        thread=thread, new_messages=[reply], content="done", usage={"total_tokens": 3}, duration_ms=1.5
    )
    assert result.output == "done"
    assert result.messages == [reply]
    assert result.usage == {"total_tokens": 3}
    assert AgentResult(thread=thread, new_messages=[], content=None).usage == {}


async def test_error_events_serialize(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="one two three", abort_after=3))
    thread = Thread()
    thread.add_message(Message(role="user", content="hi"))
    events = [e async for e in Agent(model_name="gpt-4").stream(thread)]
    assert events[-1].type is EventType.EXECUTION_ERROR
    out = json.loads(json.dumps(events[-1].to_dict()))
    assert out["data"]["error_type"] == "ModelConnectionError"
    assert "ModelConnectionError" in out["data"]["exception"]


# -- payload TypedDicts: the README table, and what runs really emit --------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_event_table() -> dict[str, set[str]]:
    """`### Events` table of the README: event type name → the data keys it lists."""
    section = README.read_text().split("### Events (`event.data` keys)", 1)[1]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue  # header and rule
        # the first backticked word of each comma-separated part is a key; the rest is comment
        keys = {m.group(1) for part in cells[1].split(", ") if (m := re.match(r"`(\w+)`", part))}
        for name in re.findall(r"`(\w+)`", cells[0]):
            rows[name] = keys
    return rows


def _keys(payload: type) -> set[str]:
    return set(payload.__required_keys__ | payload.__optional_keys__)  # type: ignore[attr-defined]


def test_every_event_type_has_a_payload_type_named_after_it() -> None:
    assert set(EVENT_DATA) == set(EventType)
    for type_, payload in EVENT_DATA.items():
        assert payload.__name__ == type_.name.title().replace("_", "").replace("Llm", "LLM") + "Data"
        assert getattr(tyler.events, payload.__name__) is payload


def test_readme_event_table_matches_the_payload_types() -> None:
    table = _readme_event_table()
    assert set(table) == {t.name for t in EventType}
    for type_, payload in EVENT_DATA.items():
        assert table[type_.name] == _keys(payload), type_.name


def test_the_readme_table_parser_reads_a_row() -> None:
    assert _readme_event_table()["LLM_THINKING_CHUNK"] == {"thinking_chunk", "thinking_type", "message_id"}


def _fits(value: Any, hint: Any) -> bool:
    """A shallow isinstance for the payload hints (unions, generics by their origin, Any)."""
    if hint is Any:
        return True
    if get_origin(hint) in (Union, types.UnionType):
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if is_typeddict(hint):  # a nested payload part (TokenUsage...): a dict with its required keys
        return isinstance(value, dict) and hint.__required_keys__ <= value.keys()
    return isinstance(value, get_origin(hint) or hint)


def _check_payloads(events: list[ExecutionEvent]) -> set[EventType]:
    # imported by tyler.events for type checking only
    names = {"Message": Message, "Thread": Thread, "ToolCall": ToolCall, "TokenUsage": TokenUsage}
    for event in events:
        payload = EVENT_DATA[event.type]
        assert set(event.data) == _keys(payload), event.type
        for key, hint in get_type_hints(payload, localns=names).items():
            assert _fits(event.data[key], hint), (event.type, key, event.data[key])
    return {e.type for e in events}


async def test_events_of_real_runs_carry_their_declared_payloads(env: FakeModelServer) -> None:
    async def slow_add(a: int, b: int, ctx: ToolContext) -> int:
        """Add two numbers, reporting progress."""
        await ctx.report_progress(1, 2, "half way")
        return a + b

    def broken() -> str:
        """Always fails."""
        raise ValueError("nope")

    env.enqueue(
        Turn(thinking="adding", tool_calls=[FakeToolCall("slow_add", {"a": 1, "b": 2}), FakeToolCall("broken")]),
        Turn(tool_calls=[FakeToolCall("slow_add", "{not json")]),
        Turn(text="3"),
    )
    thread = Thread()
    thread.add_message(Message(role="user", content="add"))
    seen = _check_payloads([e async for e in Agent(model_name="o1-preview", tools=[slow_add, broken]).stream(thread)])

    env.enqueue(Turn(tool_calls=[FakeToolCall("slow_add", {"a": 1, "b": 1})]), Turn(text="one two", abort_after=1))
    thread.add_message(Message(role="user", content="again"))
    seen |= _check_payloads([e async for e in Agent(model_name="gpt-4o", tools=[slow_add]).stream(thread)])

    env.enqueue(Turn(tool_calls=[FakeToolCall("slow_add", {"a": 2, "b": 2})]))
    thread.add_message(Message(role="user", content="once more"))
    agent = Agent(model_name="gpt-4o", tools=[slow_add], max_tool_iterations=1)
    seen |= _check_payloads([e async for e in agent.stream(thread)])

    # Tool approval, and a structured answer that fails validation once.
    class Answer(BaseModel):
        n: int

    @tool(requires_approval=True)
    def gated() -> str:
        """Needs approval."""
        return "ok"

    env.enqueue(Turn(tool_calls=[FakeToolCall("gated")]), Turn(text="not json"), Turn(text='{"n": 1}'))
    thread.add_message(Message(role="user", content="answer"))
    agent = Agent(model_name="gpt-4o", tools=[gated], approval_handler=lambda request: True, response_type=Answer)
    seen |= _check_payloads([e async for e in agent.stream(thread)])
    # CONTEXT_TRIMMED needs a context window to overflow (tests/test_context.py); all others are here.
    assert set(EventType) - seen <= {EventType.CONTEXT_TRIMMED}
