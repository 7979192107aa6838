"""The fake server's Anthropic Messages stream, read over real HTTP with plain httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tyler.testing import FakeModelServer, FakeToolCall, Turn


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4",
        "max_tokens": 1024,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is the weather?"}]}],
        **extra,
    }


def read_events(server: FakeModelServer, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Parse the SSE stream into (event name, data) pairs, checking the `event:`/`data:` framing."""
    with httpx.stream("POST", server.anthropic_base_url + "/v1/messages", json=body, timeout=10) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    assert raw.endswith("\n\n")
    events = []
    for block in raw.strip("\n").split("\n\n"):
        name_line, data_line = block.split("\n")
        name = name_line.removeprefix("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append((name, data))
    return events


def test_thinking_text_and_tool_use_sequence(server: FakeModelServer) -> None:
    server.enqueue(
        Turn(
            thinking="I should call the tool",
            text="Checking now.",
            tool_calls=[FakeToolCall("get_weather", {"city": "Paris", "unit": "celsius"})],
        )
    )
    events = read_events(server, anthropic_body())
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]

    message = events[0][1]["message"]
    assert message["model"] == "claude-sonnet-4"
    assert message["role"] == "assistant" and message["type"] == "message"
    assert message["content"] == [] and message["stop_reason"] is None
    assert message["id"].startswith("msg_")
    assert message["usage"]["input_tokens"] == 4

    blocks: dict[int, dict[str, Any]] = {}
    open_blocks: set[int] = set()
    for name, data in events[2:-2]:
        if name == "content_block_start":
            assert data["index"] not in blocks
            blocks[data["index"]] = dict(data["content_block"])
            open_blocks.add(data["index"])
        elif name == "content_block_delta":
            assert data["index"] in open_blocks
            block, delta = blocks[data["index"]], data["delta"]
            if delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                block["partial"] = block.get("partial", "") + delta["partial_json"]
            else:
                raise AssertionError(delta)
        elif name == "content_block_stop":
            open_blocks.remove(data["index"])
        else:
            raise AssertionError(name)
    assert not open_blocks
    assert [blocks[i]["type"] for i in sorted(blocks)] == ["thinking", "text", "tool_use"]
    assert blocks[0]["thinking"] == "I should call the tool" and blocks[0]["signature"]
    assert blocks[1]["text"] == "Checking now."
    assert blocks[2]["name"] == "get_weather" and blocks[2]["id"].startswith("toolu_")
    assert blocks[2]["input"] == {}
    assert json.loads(blocks[2]["partial"]) == {"city": "Paris", "unit": "celsius"}

    # The signature arrives after all thinking deltas, then the block stops.
    thinking_deltas = [d["delta"]["type"] for n, d in events if n == "content_block_delta" and d["index"] == 0]
    assert thinking_deltas[-1] == "signature_delta" and set(thinking_deltas[:-1]) == {"thinking_delta"}

    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] > 0


def test_text_only_ends_with_end_turn_and_max_tokens_override(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="Hi there"), Turn(text="cut off", finish_reason="length"))
    events = read_events(server, anthropic_body())
    assert [d["delta"]["text"] for n, d in events if n == "content_block_delta"] == ["Hi ", "there"]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    events = read_events(server, anthropic_body())
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_non_streaming_message(server: FakeModelServer) -> None:
    server.enqueue(Turn(thinking="hm", text="Sure.", tool_calls=[FakeToolCall("f", {"a": [1, 2]}, id="toolu_1")]))
    body = anthropic_body()
    del body["stream"]
    response = httpx.post(server.url + "/v1/messages", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "message" and data["model"] == "claude-sonnet-4"
    assert [b["type"] for b in data["content"]] == ["thinking", "text", "tool_use"]
    assert data["content"][2] == {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}}
    assert data["stop_reason"] == "tool_use"
    assert server.requests[0].api == "anthropic" and not server.requests[0].stream


def test_missing_max_tokens_is_rejected_like_the_real_api(server: FakeModelServer) -> None:
    body = anthropic_body()
    del body["max_tokens"]
    response = httpx.post(server.url + "/v1/messages", json=body)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in response.json()["error"]["message"]
    assert server.requests[0].status == 400


def test_mid_stream_error_event(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c d", error_event="overloaded_error"))
    events = read_events(server, anthropic_body())
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "overloaded_error"
    assert "message_stop" not in [n for n, _ in events]
    # every text delta was sent before the error
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == "a b c d"


def test_error_event_position(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c d", error_event="api_error", error_event_at=3, error_message="boom"))
    events = read_events(server, anthropic_body())
    assert [n for n, _ in events] == ["message_start", "ping", "content_block_start", "error"]
    assert events[-1][1]["error"] == {"type": "api_error", "message": "boom"}
