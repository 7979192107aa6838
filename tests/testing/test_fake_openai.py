"""The fake server's OpenAI Chat Completions stream, read over real HTTP with plain httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tyler.testing import DEFAULT_REPLY, FakeModelServer, FakeToolCall, Turn


def openai_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "Tell me a story"}],
        "stream": True,
        **extra,
    }


def read_sse_data(server: FakeModelServer, body: dict[str, Any], path: str = "/v1/chat/completions") -> list[str]:
    with httpx.stream("POST", server.url + path, json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    return [line.removeprefix("data: ") for line in lines]


def chunks_of(data: list[str]) -> list[dict[str, Any]]:
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def test_text_stream_is_split_by_words_and_echoes_model(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="Once upon a time"))
    chunks = chunks_of(read_sse_data(server, openai_body(model="my-model")))
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "my-model"
        assert chunk["id"] == chunks[0]["id"]
        assert isinstance(chunk["created"], int)
        assert "usage" not in chunk  # only with stream_options.include_usage
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["Once ", "upon ", "a ", "time"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["logprobs"] is None
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_explicit_chunks_are_sent_as_given(server: FakeModelServer) -> None:
    server.enqueue(Turn(chunks=["He", "llo", " wor", "ld"]))
    chunks = chunks_of(read_sse_data(server, openai_body()))
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == ["He", "llo", " wor", "ld"]


def test_chat_completions_without_v1_prefix(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="hi"))
    chunks = chunks_of(read_sse_data(server, openai_body(), path="/chat/completions"))
    assert chunks[1]["choices"][0]["delta"]["content"] == "hi"
    assert server.requests[0].api == "openai"


def test_reasoning_content_then_text(server: FakeModelServer) -> None:
    server.enqueue(Turn(thinking="Let me think", text="Answer"), Turn(thinking="Hmm", reasoning_field="reasoning"))
    chunks = chunks_of(read_sse_data(server, openai_body()))
    deltas = [c["choices"][0]["delta"] for c in chunks[1:-1]]
    assert deltas == [
        {"reasoning_content": "Let "},
        {"reasoning_content": "me "},
        {"reasoning_content": "think"},
        {"content": "Answer"},
    ]
    chunks = chunks_of(read_sse_data(server, openai_body()))
    assert chunks[1]["choices"][0]["delta"] == {"reasoning": "Hmm"}


def test_tool_call_arguments_are_split_with_id_and_name_first(server: FakeModelServer) -> None:
    args = {"city": "Paris", "units": "metric", "days": 3}
    server.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", args), FakeToolCall("noop", {}, id="call_x")]))
    chunks = chunks_of(read_sse_data(server, openai_body()))
    calls: dict[int, dict[str, Any]] = {}
    pieces_per_call: dict[int, int] = {}
    for chunk in chunks[1:-1]:
        (tc,) = chunk["choices"][0]["delta"]["tool_calls"]
        if tc["index"] not in calls:
            assert tc["type"] == "function" and tc["id"] and tc["function"]["name"]
            calls[tc["index"]] = {"id": tc["id"], "name": tc["function"]["name"], "arguments": ""}
        else:
            assert "id" not in tc and "name" not in tc["function"]
        calls[tc["index"]]["arguments"] += tc["function"]["arguments"]
        pieces_per_call[tc["index"]] = pieces_per_call.get(tc["index"], 0) + 1
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == args
    assert pieces_per_call[0] >= 3  # really split
    assert calls[1] == {"id": "call_x", "name": "noop", "arguments": "{}"}
    assert calls[0]["id"] != calls[1]["id"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_usage_chunk_only_with_include_usage(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="one two three", thinking="a b"))
    chunks = chunks_of(read_sse_data(server, openai_body(stream_options={"include_usage": True})))
    final = chunks[-1]
    assert final["choices"] == []
    usage = final["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2
    assert usage["prompt_tokens"] == 4  # words of "Tell me a story"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"

    server.enqueue(Turn(text="one two three"))
    chunks = chunks_of(read_sse_data(server, openai_body(stream_options={"include_usage": False})))
    assert all("usage" not in c and c["choices"] for c in chunks)


def test_usage_override_and_finish_reason_override(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="cut", usage={"prompt_tokens": 100, "completion_tokens": 7}, finish_reason="max_tokens"))
    chunks = chunks_of(read_sse_data(server, openai_body(stream_options={"include_usage": True})))
    assert chunks[-1]["usage"]["prompt_tokens"] == 100
    assert chunks[-1]["usage"]["total_tokens"] == 107
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


def test_non_streaming_returns_chat_completion(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="Hello world", thinking="hm", tool_calls=[FakeToolCall("f", {"x": 1})]))
    response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body(stream=False))
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-4"
    message = data["choices"][0]["message"]
    assert message["content"] == "Hello world"
    assert message["reasoning_content"] == "hm"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["usage"]["total_tokens"] > 0
    assert server.requests[0].stream is False


def test_default_reply_quotes_last_user_message(server: FakeModelServer) -> None:
    chunks = chunks_of(read_sse_data(server, openai_body()))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == f'{DEFAULT_REPLY} You said: "Tell me a story"'


def test_queue_is_fifo_then_default(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="first"), Turn(text="second"))
    texts = []
    for _ in range(3):
        chunks = chunks_of(read_sse_data(server, openai_body()))
        texts.append("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks))
    assert texts[:2] == ["first", "second"]
    assert texts[2].startswith(DEFAULT_REPLY)
    assert server.pending == 0


def test_requests_are_recorded(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c"))
    read_sse_data(server, openai_body())
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.api == "openai"
    assert request.body["messages"][0]["content"] == "Tell me a story"
    assert request.headers["content-type"] == "application/json"
    assert request.completed and not request.disconnected_early
    assert request.chunks_sent == 6  # role, 3 words, finish, [DONE]
    assert request.finished is not None and request.finished >= request.started
