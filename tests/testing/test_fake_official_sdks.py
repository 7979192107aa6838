"""The official OpenAI and Anthropic SDKs parse the fake server's streams (skipped if not installed).

They are the reference readers of both wire formats: if their accumulators rebuild the scripted
reply, the shapes (event order, deltas, tool call pieces, usage, errors) are what real clients expect.
"""

from __future__ import annotations

import pytest

from tyler.testing import FakeModelServer, FakeToolCall, Turn

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")


def test_openai_sdk_accumulates_text_reasoning_tools_and_usage(server: FakeModelServer) -> None:
    server.enqueue(
        Turn(
            text="Let me look that up.",
            thinking="The user wants weather.",
            tool_calls=[FakeToolCall("get_weather", {"city": "Paris"}), FakeToolCall("get_time", {"tz": "CET"})],
        )
    )
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="fake-key", max_retries=0)
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        stream_options={"include_usage": True},
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert final.model == "gpt-4o"
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look that up."
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [c.function.arguments for c in calls] == ['{"city":"Paris"}', '{"tz":"CET"}']
    assert final.usage is not None and final.usage.completion_tokens_details.reasoning_tokens == 4
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens


def test_openai_sdk_raw_chunks(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="Hello from the fake"))
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="fake-key", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_sdk_non_stream_and_errors(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="plain"), Turn(status=429, retry_after=1), Turn(status=401))
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="fake-key", max_retries=0)
    completion = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "plain"
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert rate_limited.value.code == "rate_limit_exceeded"
    assert rate_limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])


def test_anthropic_sdk_accumulates_thinking_text_and_tool_use(server: FakeModelServer) -> None:
    server.enqueue(
        Turn(thinking="Need the tool.", text="Checking.", tool_calls=[FakeToolCall("lookup", {"q": "x", "n": 2})])
    )
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="fake-key", max_retries=0)
    with client.messages.stream(
        model="claude-fake-model", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds and "text" in kinds and "input_json" in kinds
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "Need the tool." and message.content[0].signature
    assert message.content[1].text == "Checking."
    assert message.content[2].name == "lookup" and message.content[2].input == {"q": "x", "n": 2}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens > 0
    assert message.model == "claude-fake-model"


def test_anthropic_sdk_errors(server: FakeModelServer) -> None:
    server.enqueue(Turn(status=529), Turn(text="a b c", error_event="overloaded_error"))
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="fake-key", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as failed:
        client.messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 529
    assert failed.value.body["error"]["type"] == "overloaded_error"
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as stream,
    ):
        for _ in stream:
            pass
