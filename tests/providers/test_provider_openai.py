"""The OpenAI Chat Completions adapter: what goes on the wire (recorded by the fake server)."""

from __future__ import annotations

from typing import Any

import pytest

from tyler import Agent, Message, Thread
from tyler.providers.base import ModelRequest, ModelSettings
from tyler.providers.openai import OpenAIProvider, parse_chunk
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def user_thread(content: Any = "hi") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=content))
    return thread


async def sent_body(env: FakeModelServer, thread: Thread | None = None, **agent_kwargs: Any) -> dict[str, Any]:
    env.enqueue(Turn(text="ok"))
    await Agent(model_name=agent_kwargs.pop("model_name", "gpt-4o"), **agent_kwargs).go(thread or user_thread())
    return env.requests[-1].body


async def test_basic_body(env: FakeModelServer) -> None:
    body = await sent_body(env, purpose="To test")
    assert body["model"] == "gpt-4o"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {"role": "user", "content": "hi"}
    for key in ("temperature", "max_tokens", "max_completion_tokens", "reasoning_effort", "tools"):
        assert key not in body


async def test_settings_are_sent(env: FakeModelServer) -> None:
    body = await sent_body(
        env,
        temperature=0.2,
        max_tokens=77,
        reasoning="high",
        extra_body={"seed": 7, "top_p": 0.5},
        extra_headers={"X-Trace": "abc"},
    )
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 77
    assert body["reasoning_effort"] == "high"
    assert body["seed"] == 7
    assert body["top_p"] == 0.5
    assert env.requests[-1].headers["x-trace"] == "abc"


async def test_reasoning_dict_is_merged(env: FakeModelServer) -> None:
    body = await sent_body(env, reasoning={"reasoning_effort": "low", "verbosity": "low"})
    assert body["reasoning_effort"] == "low"
    assert body["verbosity"] == "low"


def test_official_openai_uses_max_completion_tokens() -> None:
    provider = OpenAIProvider(base_url="https://api.openai.com/v1", model="o1-preview", api_key="k", official=True)
    request = ModelRequest(
        model="o1-preview", messages=[Message(role="user", content="x")], settings=ModelSettings(max_tokens=50)
    )
    body = provider.build_body(request)
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


async def test_multipart_user_content_is_sent_as_is(env: FakeModelServer) -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    body = await sent_body(env, user_thread(parts))
    assert body["messages"][1] == {"role": "user", "content": parts}


async def test_reasoning_is_not_sent_back(env: FakeModelServer) -> None:
    # DeepSeek-style servers reject reasoning_content in input messages.
    env.enqueue(
        Turn(thinking="hidden thoughts", text="answer", tool_calls=[FakeToolCall("noop", {})]), Turn(text="done")
    )

    def noop() -> str:
        return "ok"

    await Agent(model_name="deepseek/deepseek-reasoner", api_base=env.openai_base_url, tools=[noop]).go(user_thread())
    assistant = env.requests[1].body["messages"][2]
    assert assistant["role"] == "assistant"
    assert "reasoning_content" not in assistant
    assert "hidden thoughts" not in str(env.requests[1].body)
    assert assistant["content"] == "answer"
    assert assistant["tool_calls"][0]["function"] == {"name": "noop", "arguments": "{}"}


async def test_tool_only_assistant_message_shape(env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("noop", {"x": 1})]), Turn(text="done"))

    def noop(x: int) -> str:
        return ""

    await Agent(model_name="gpt-4o", tools=[noop]).go(user_thread())
    messages = env.requests[1].body["messages"]
    assert messages[2]["role"] == "assistant"
    assert messages[2]["tool_calls"][0]["type"] == "function"
    assert messages[3] == {
        "role": "tool",
        "content": "",
        "name": "noop",
        "tool_call_id": messages[2]["tool_calls"][0]["id"],
    }


@pytest.mark.parametrize(
    ("chunk", "text", "thinking"),
    [
        ({"choices": [{"index": 0, "delta": {"content": "hi"}}]}, "hi", None),
        ({"choices": [{"index": 0, "delta": {"reasoning_content": "r"}}]}, None, "r"),
        ({"choices": [{"index": 0, "delta": {"reasoning": "r2"}}]}, None, "r2"),
        ({"choices": [{"index": 0, "delta": {"content": None, "role": "assistant"}}]}, None, None),
        ({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}, None, None),
    ],
)
def test_parse_chunk(chunk: dict[str, Any], text: str | None, thinking: str | None) -> None:
    parsed = parse_chunk(chunk)
    assert parsed.raw is chunk
    assert parsed.text == text
    assert parsed.thinking == thinking
    if thinking:
        assert parsed.thinking_type == "reasoning"


def test_parse_usage_fills_total() -> None:
    parsed = parse_chunk(
        {
            "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 1}},
        }
    )
    assert parsed.usage is not None
    assert parsed.usage.as_dict() == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "reasoning_tokens": 1,
    }
