"""ExecutionEvent, EventType and AgentResult as values users build, compare and serialize."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

from tyler import Agent, AgentResult, EventType, ExecutionEvent, Message, Thread
from tyler.models.execution import EventType as CompatEventType
from tyler.models.execution import ExecutionEvent as CompatExecutionEvent
from tyler.testing import FakeModelServer, Turn


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
        "MESSAGE_CREATED": "message_created",
        "ITERATION_LIMIT": "iteration_limit",
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
