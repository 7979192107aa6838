"""Message and Thread: values that round-trip through JSON without loss."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tyler import Agent, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def full_thread() -> Thread:
    thread = Thread(title="Trip planning", attributes={"user": "ana", "tags": ["travel"]})
    thread.add_message(Message(role="system", content="Be concise."))
    thread.add_message(
        Message(
            role="user",
            content=[
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
            name="ana",
        )
    )
    thread.add_message(
        Message(
            role="assistant",
            content="Let me check the weather.",
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
            reasoning_content="The user wants the weather; call the tool.",
            thinking_blocks=[
                {"type": "thinking", "thinking": "The user wants the weather; call the tool.", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"},
            ],
            metrics={
                "model": "gpt-4o",
                "timing": {"latency": 12.5, "time_to_first_token": 3.25},
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
            attributes={"finish_reason": "tool_calls"},
        )
    )
    thread.add_message(
        Message(
            role="tool",
            name="get_weather",
            tool_call_id="call_1",
            content="Sunny, 24°C 🌞",
            attributes={"error": False},
        )
    )
    thread.add_message(
        Message(
            role="assistant", content="It is sunny in Par", interrupted=True, attributes={"error": "connection dropped"}
        )
    )
    return thread


def test_thread_json_round_trip_is_lossless() -> None:
    thread = full_thread()
    dumped = thread.model_dump_json()
    loaded = Thread.model_validate_json(dumped)
    assert loaded == thread
    assert loaded.model_dump() == thread.model_dump()
    assert loaded.model_dump_json() == dumped
    assistant = loaded.messages[2]
    assert assistant.tool_calls == thread.messages[2].tool_calls
    assert assistant.reasoning_content == "The user wants the weather; call the tool."
    assert assistant.thinking_blocks is not None and assistant.thinking_blocks[0]["signature"] == "sig=="
    assert assistant.metrics["timing"]["latency"] == 12.5
    assert loaded.messages[-1].interrupted is True
    assert loaded.messages[1].content == thread.messages[1].content
    assert loaded.messages[3].content == "Sunny, 24°C 🌞"
    assert loaded.messages[2].timestamp == thread.messages[2].timestamp
    assert loaded.messages[2].timestamp.tzinfo is not None


def test_message_json_round_trip_via_json_module() -> None:
    for message in full_thread().messages:
        data = json.loads(json.dumps(message.model_dump(mode="json")))
        assert Message.model_validate(data) == message


def test_defaults() -> None:
    message = Message(role="user", content="hi")
    assert message.id and isinstance(message.id, str)
    assert message.interrupted is False
    assert message.metrics == {}
    assert message.tool_calls is None
    assert message.reasoning_content is None
    assert message.timestamp.tzinfo is not None
    assert Message(role="user", content="hi").id != message.id
    thread = Thread()
    assert thread.messages == []
    assert thread.id != Thread().id


def test_invalid_role_is_rejected() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Message(role="robot", content="beep")  # type: ignore[arg-type]


def test_add_message_checks_its_argument() -> None:
    thread = Thread()
    with pytest.raises(TypeError):
        thread.add_message({"role": "user", "content": "hi"})  # type: ignore[arg-type]
    before = thread.updated_at
    message = thread.add_message(Message(role="user", content="hi"))
    assert thread.messages == [message]
    assert thread.updated_at >= before


def test_thread_helpers() -> None:
    thread = full_thread()
    assert thread.get_last_message_by_role("tool") is thread.messages[3]
    assert thread.get_last_message_by_role("assistant") is thread.messages[4]
    assert thread.get_message(thread.messages[2].id) is thread.messages[2]
    assert thread.get_message("nope") is None
    assert thread.get_total_tokens() == 15
    chat = thread.get_messages_for_chat_completion()
    assert chat[2] == {
        "role": "assistant",
        "content": "Let me check the weather.",
        "tool_calls": thread.messages[2].tool_calls,
    }
    assert chat[3] == {"role": "tool", "content": "Sunny, 24°C 🌞", "name": "get_weather", "tool_call_id": "call_1"}
    assert chat[1]["name"] == "ana"


def test_text_property() -> None:
    thread = full_thread()
    assert thread.messages[1].text == "What is in this picture?"
    assert thread.messages[0].text == "Be concise."
    assert Message(role="assistant").text == ""


def test_thread_id_can_be_chosen() -> None:
    thread = Thread(id="main-chat")
    assert thread.id == "main-chat"
    assert Thread.model_validate_json(thread.model_dump_json()).id == "main-chat"


def test_timestamps_are_preserved_exactly() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    message = Message(role="user", content="x", timestamp=moment)
    assert Message.model_validate_json(message.model_dump_json()).timestamp == moment


async def test_a_thread_produced_by_a_run_round_trips(env: FakeModelServer) -> None:
    env.enqueue(
        Turn(thinking="think", text="Checking.", tool_calls=[FakeToolCall("echo", {"v": "x"})]),
        Turn(text="Done."),
    )

    def echo(v: str) -> str:
        return v

    thread = Thread()
    thread.add_message(Message(role="user", content="go"))
    await Agent(model_name="anthropic/claude-3-7-sonnet-20250219", tools=[echo]).go(thread)
    loaded = Thread.model_validate_json(thread.model_dump_json())
    assert loaded == thread
    assert loaded.messages[1].thinking_blocks == thread.messages[1].thinking_blocks
    assert loaded.messages[1].reasoning_content == "think"
    # A loaded thread continues the conversation exactly like the original.
    env.enqueue(Turn(text="again"))
    loaded.add_message(Message(role="user", content="more"))
    await Agent(model_name="anthropic/claude-3-7-sonnet-20250219", tools=[echo]).go(loaded)
    assert env.requests[-1].body["messages"][1] == env.requests[1].body["messages"][1]


# -- the typed fields: one shape per key, plain dicts, extra keys kept ---------------------------------


def test_typed_fields_stay_plain_dicts_and_keep_keys_they_do_not_declare() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}", "strict": True}, "x": 1}
    message = Message(
        role="assistant",
        tool_calls=[call],  # type: ignore[list-item]  # undeclared keys, as a client may send them
        metrics={"model": "m", "usage": {"prompt_tokens": 1}, "cost": 0.5},  # type: ignore[typeddict-unknown-key]
    )
    assert type(message.tool_calls[0]) is dict and message.tool_calls[0]["function"]["name"] == "f"
    loaded = Message.model_validate_json(message.model_dump_json())
    assert loaded.tool_calls == [call]
    assert loaded.metrics == {"model": "m", "usage": {"prompt_tokens": 1}, "cost": 0.5}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tool_calls", [{"id": "c1", "type": "function", "function": {"arguments": "{}"}}]),  # no name
        ("tool_calls", [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]),
        ("tool_calls", [{"id": None, "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
        ("thinking_blocks", [{"type": "thinking", "signature": "s"}]),  # no text
        ("thinking_blocks", [{"type": "secret", "data": "x"}]),
        ("metrics", {"timing": {"time_to_first_token": 1.0}}),  # no latency
        ("metrics", {"usage": {"total_tokens": "many"}}),
    ],
)
def test_a_typed_field_of_the_wrong_shape_is_refused(field: str, value: object) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        Message(role="assistant", **{field: value})  # type: ignore[arg-type]


def test_the_json_schema_of_a_message_declares_its_tool_calls() -> None:
    defs = Message.model_json_schema()["$defs"]
    assert set(defs["ToolCall"]["required"]) == {"id", "type", "function"}
    assert set(defs["ToolCallFunction"]["required"]) == {"name", "arguments"}
    assert set(defs["MessageMetrics"]["properties"]) >= {"model", "timing", "usage"}
