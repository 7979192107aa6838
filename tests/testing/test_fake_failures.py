"""Scripted failures: HTTP errors, dropped connections, malformed chunks, stalls, early disconnects."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tyler.testing import FakeModelServer, Turn


def openai_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True, **extra}


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-3-5-haiku",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        **extra,
    }


def test_openai_http_error_with_retry_after(server: FakeModelServer) -> None:
    server.enqueue(Turn(status=429, retry_after=2))
    response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "rate_limit_exceeded" and error["message"]
    request = server.requests[0]
    assert request.status == 429 and request.completed


def test_anthropic_http_error_shape(server: FakeModelServer) -> None:
    server.enqueue(Turn(status=529), Turn(status=401, error_message="bad key"))
    response = httpx.post(server.url + "/v1/messages", json=anthropic_body())
    assert response.status_code == 529
    assert "retry-after" not in response.headers
    assert response.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded."},
    }
    response = httpx.post(server.url + "/v1/messages", json=anthropic_body())
    assert response.json()["error"] == {"type": "authentication_error", "message": "bad key"}


def test_connection_survives_error_responses(server: FakeModelServer) -> None:
    server.enqueue(Turn(status=500), Turn(text="ok"))
    with httpx.Client() as client:
        assert client.post(server.openai_base_url + "/chat/completions", json=openai_body()).status_code == 500
        response = client.post(server.openai_base_url + "/chat/completions", json=openai_body())
    assert response.status_code == 200 and '"content":"ok"' in response.text


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_abort_mid_stream_is_a_protocol_error_for_the_client(server: FakeModelServer, api: str) -> None:
    server.enqueue(Turn(text="one two three four five", abort_after=3))
    url, body = (
        (server.openai_base_url + "/chat/completions", openai_body())
        if api == "openai"
        else (server.url + "/v1/messages", anthropic_body())
    )
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            received.append(line)
    assert len([line for line in received if line.startswith("data: ")]) == 3
    request = server.wait_for_request_finished()
    assert request is not None
    assert request.chunks_sent == 3 and not request.completed and not request.disconnected_early


def test_malformed_chunk_then_stream_continues(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c", malformed_at=2))
    with httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response:
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    bad = []
    for i, item in enumerate(data[:-1]):
        try:
            json.loads(item)
        except ValueError:
            bad.append(i)
    assert bad == [2]
    assert data[-1] == "[DONE]"


def test_stall_keeps_connection_open_until_the_client_gives_up(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c d", stall_after=2))
    lines: list[str] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST",
            server.openai_base_url + "/chat/completions",
            json=openai_body(),
            timeout=httpx.Timeout(5, read=0.5),
        ) as response,
    ):
        for line in response.iter_lines():
            lines.append(line)
    assert len([x for x in lines if x]) == 2
    # Closing the stalled response is seen by the server as an early disconnect.
    assert server.wait_for_disconnect()
    assert server.requests[0].chunks_sent == 2


def test_stall_with_anthropic_pings(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c d", stall_after=3, keepalive_interval=0.05, stall_seconds=0.4))
    with httpx.stream("POST", server.url + "/v1/messages", json=anthropic_body()) as response:
        names = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    # message_start, ping, content_block_start, then keepalive pings, then the rest of the stream
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[3:6] == ["ping", "ping", "ping"]
    assert names[-1] == "message_stop"
    assert server.requests[0].completed


def test_openai_stall_keepalives_are_sse_comments(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b", stall_after=1, keepalive_interval=0.05, stall_seconds=0.25))
    with httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response:
        lines = [line for line in response.iter_lines() if line]
    comments = [line for line in lines if line.startswith(":")]
    assert len(comments) >= 2
    assert lines[-1] == "data: [DONE]"


def test_client_closing_early_is_recorded_as_disconnect(server: FakeModelServer) -> None:
    server.enqueue(Turn(text=" ".join(["word"] * 100), delay=0.02))
    with httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response:
        for i, _line in enumerate(response.iter_lines()):
            if i >= 4:
                break
    started = time.monotonic()
    assert server.wait_for_disconnect(timeout=5)
    assert time.monotonic() - started < 2
    request = server.requests[0]
    assert request.disconnected_early and not request.completed
    assert 2 <= request.chunks_sent < 100


def test_full_read_is_not_a_disconnect(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c", delay=0.01))
    with httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response:
        response.read()
    assert server.wait_for_disconnect() is False
    assert server.requests[0].completed


async def test_async_disconnect_detection(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="x " * 50, stall_after=5))
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response,
    ):
        async for line in response.aiter_lines():
            if line:
                break
    assert await server.await_disconnect(timeout=5)


def test_first_byte_delay(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="late", first_byte_delay=0.3))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            server.openai_base_url + "/chat/completions",
            json=openai_body(),
            timeout=httpx.Timeout(5, read=0.1),
        )
    server.enqueue(Turn(text="late", first_byte_delay=0.1), Turn(status=503, first_byte_delay=0.1))
    response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body())
    assert response.status_code == 200
    assert httpx.post(server.openai_base_url + "/chat/completions", json=openai_body()).status_code == 503
    # When the first byte went out is recorded (benchmarks time the client from it).
    for record in server.requests[-2:]:
        assert record.first_byte_at is not None and record.finished is not None
        assert record.started + 0.1 <= record.first_byte_at <= record.finished + 0.01


def test_api_key_is_enforced_when_configured() -> None:
    with FakeModelServer(api_key="sekret") as server:
        response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body())
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        response = httpx.post(
            server.openai_base_url + "/chat/completions",
            json=openai_body(),
            headers={"Authorization": "Bearer sekret"},
        )
        assert response.status_code == 200
        response = httpx.post(server.url + "/v1/messages", json=anthropic_body(), headers={"x-api-key": "sekret"})
        assert response.status_code == 200
        assert server.env()["OPENAI_API_KEY"] == "sekret"


def test_bad_json_body_is_a_400(server: FakeModelServer) -> None:
    response = httpx.post(
        server.openai_base_url + "/chat/completions",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert server.requests[0].body is None


_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [_CALL]}],
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            {"role": "user", "content": "and?"},
        ],
        [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "x"}],
    ],
    ids=["unanswered-at-end", "unanswered-before-user", "orphan-result"],
)
def test_openai_unanswered_tool_calls_are_a_400(server: FakeModelServer, messages: list[dict[str, Any]]) -> None:
    # As the real API: a client that leaves a tool call unanswered finds out in its tests.
    response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body(messages=messages))
    assert response.status_code == 400
    assert "tool" in response.json()["error"]["message"]
    answered = [*messages[:2], {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]
    if messages[-1]["role"] != "tool":
        ok = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body(messages=answered))
        assert ok.status_code == 200


def test_anthropic_unanswered_tool_use_is_a_400(server: FakeModelServer) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]},
    ]
    response = httpx.post(server.anthropic_base_url + "/messages", json=anthropic_body(messages=messages))
    assert response.status_code == 400
    assert "tool_use" in response.json()["error"]["message"]
    messages[2]["content"].insert(0, {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"})
    ok = httpx.post(server.anthropic_base_url + "/messages", json=anthropic_body(messages=messages))
    assert ok.status_code == 200


def test_unknown_path_is_404(server: FakeModelServer) -> None:
    response = httpx.post(server.url + "/v1/embeddings", json={})
    assert response.status_code == 404
    assert server.requests == []


def test_abort_after_past_the_end_drops_the_connection_before_the_body_ends(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b", abort_after=999))
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response,
    ):
        for line in response.iter_lines():
            lines.append(line)
    assert "data: [DONE]" in lines  # every event arrived, only the end of the HTTP body is missing
    request = server.wait_for_request_finished()
    assert request is not None and not request.completed and request.chunks_sent == 5


def test_stall_at_the_end_then_resume_completes_once(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b", stall_after=999, stall_seconds=0.05))
    with httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and len(lines) == 5
    assert server.requests[0].completed


def test_stall_then_abort(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="a b c", stall_after=2, stall_seconds=0.05, abort_after=2))
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response,
    ):
        for _ in response.iter_lines():
            pass
    assert server.requests[0].chunks_sent == 2
