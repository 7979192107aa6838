"""The Anthropic Messages adapter: request conversion (recorded by the fake server) and streaming."""

from __future__ import annotations

from typing import Any

from tyler import Agent, EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn

MODEL = "anthropic/claude-3-7-sonnet-20250219"


def user_thread(content: Any = "hi") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=content))
    return thread


async def sent_body(env: FakeModelServer, thread: Thread | None = None, **agent_kwargs: Any) -> dict[str, Any]:
    env.enqueue(Turn(text="ok"))
    await Agent(model_name=MODEL, **agent_kwargs).go(thread or user_thread())
    return env.requests[-1].body


async def test_basic_body(env: FakeModelServer) -> None:
    body = await sent_body(env, purpose="To test")
    assert body["model"] == "claude-3-7-sonnet-20250219"
    assert body["stream"] is True
    assert body["max_tokens"] > 0
    assert "To test" in body["system"]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert "thinking" not in body
    assert "temperature" not in body


async def test_system_messages_join_the_system_prompt(env: FakeModelServer) -> None:
    thread = Thread()
    thread.add_message(Message(role="system", content="Extra rule."))
    thread.add_message(Message(role="user", content="hi"))
    body = await sent_body(env, thread, system_prompt="Base prompt.")
    assert body["system"] == "Base prompt.\n\nExtra rule."
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_settings(env: FakeModelServer) -> None:
    body = await sent_body(env, temperature=0.3, max_tokens=123, extra_headers={"anthropic-beta": "x"})
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 123
    assert env.requests[-1].headers["anthropic-beta"] == "x"


async def test_thinking_settings(env: FakeModelServer) -> None:
    body = await sent_body(env, reasoning="medium", temperature=0.5, max_tokens=1000)
    assert body["thinking"]["type"] == "enabled"
    assert body["max_tokens"] > body["thinking"]["budget_tokens"]
    assert "temperature" not in body  # Anthropic refuses a temperature with thinking on


async def test_image_data_url_becomes_a_base64_block(env: FakeModelServer) -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    body = await sent_body(env, user_thread(parts))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
    ]


async def test_parallel_tool_results_go_in_one_user_message(env: FakeModelServer) -> None:
    env.enqueue(
        Turn(text="Checking both.", tool_calls=[FakeToolCall("w", {"c": "a"}), FakeToolCall("w", {"c": "b"})]),
        Turn(text="done"),
    )

    def w(c: str) -> str:
        return c.upper()

    await Agent(model_name=MODEL, tools=[w]).go(user_thread())
    messages = env.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assistant = messages[1]["content"]
    assert assistant[0] == {"type": "text", "text": "Checking both."}
    ids = [b["id"] for b in assistant[1:]]
    assert [b["type"] for b in assistant[1:]] == ["tool_use", "tool_use"]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": ids[0], "content": "A"},
        {"type": "tool_result", "tool_use_id": ids[1], "content": "B"},
    ]


async def test_signed_and_redacted_thinking_blocks_are_sent_back(env: FakeModelServer) -> None:
    thread = user_thread("weather?")
    thread.add_message(
        Message(
            role="assistant",
            content=None,
            reasoning_content="thoughts",
            thinking_blocks=[
                {"type": "thinking", "thinking": "thoughts", "signature": "sig1"},
                {"type": "redacted_thinking", "data": "opaque=="},
            ],
            tool_calls=[{"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"c": "x"}'}}],
        )
    )
    thread.add_message(Message(role="tool", name="w", tool_call_id="toolu_1", content="X"))
    body = await sent_body(env, thread)
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "thoughts", "signature": "sig1"},
        {"type": "redacted_thinking", "data": "opaque=="},
        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"c": "x"}},
    ]


async def test_unsigned_reasoning_is_not_sent_as_thinking(env: FakeModelServer) -> None:
    # Reasoning that came from another provider has no signature: Anthropic would reject it.
    thread = user_thread("q1")
    thread.add_message(
        Message(
            role="assistant",
            content="a1",
            reasoning_content="openai reasoning",
            thinking_blocks=[{"type": "thinking", "thinking": "x", "signature": None}],
        )
    )
    thread.add_message(Message(role="user", content="q2"))
    body = await sent_body(env, thread)
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "a1"}]}


async def test_a_thread_can_move_from_openai_to_anthropic(env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="r", tool_calls=[FakeToolCall("w", {"c": "z"})]), Turn(text="first"))

    def w(c: str) -> str:
        return c

    thread = user_thread()
    await Agent(model_name="gpt-4o", tools=[w]).go(thread)
    thread.add_message(Message(role="user", content="again"))
    env.enqueue(Turn(text="second"))
    result = await Agent(model_name=MODEL, tools=[w]).go(thread)
    assert result.content == "second"
    messages = env.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    tool_use = messages[1]["content"][0]
    assert tool_use["type"] == "tool_use"
    assert messages[2]["content"][0]["tool_use_id"] == tool_use["id"]
    assert all(b["type"] != "thinking" for b in messages[1]["content"])


async def test_invalid_tool_arguments_in_history_still_convert(env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("w", "not json")]), Turn(text="sorry"))

    def w(c: str) -> str:
        return c

    thread = user_thread()
    events = [e async for e in Agent(model_name=MODEL, tools=[w]).stream(thread)]
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert len(env.requests) == 2
    tool_use = env.requests[1].body["messages"][1]["content"][-1]
    assert tool_use["type"] == "tool_use"
    assert isinstance(tool_use["input"], dict)  # Anthropic requires an object


async def test_stream_with_text_thinking_and_two_tools(env: FakeModelServer) -> None:
    env.enqueue(
        Turn(
            thinking="plan", text="Doing it.", tool_calls=[FakeToolCall("w", {"c": "1"}), FakeToolCall("w", {"c": "2"})]
        ),
        Turn(text="ok"),
    )

    def w(c: str) -> str:
        return c

    thread = user_thread()
    await Agent(model_name=MODEL, tools=[w]).go(thread)
    assistant = thread.messages[1]
    assert assistant.content == "Doing it."
    assert assistant.reasoning_content == "plan"
    assert [c["function"]["arguments"] for c in assistant.tool_calls] == ['{"c":"1"}', '{"c":"2"}']
    assert assistant.attributes["finish_reason"] == "tool_calls"
    assert [m.content for m in thread.messages if m.role == "tool"] == ["1", "2"]
