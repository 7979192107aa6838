"""Server lifecycle, scripting API, concurrency and the standalone process with its control endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tyler.exceptions import ConfigurationError
from tyler.testing import (
    DEFAULT_REPLY,
    FakeModelServer,
    FakeToolCall,
    RecordedRequest,
    RemoteFakeServer,
    Turn,
)


def openai_body(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4", "messages": [{"role": "user", "content": content}], "stream": True, **extra}


def stream_text(base_url: str, body: dict[str, Any]) -> str:
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        text = ""
        for line in response.iter_lines():
            if line.startswith("data: {"):
                for choice in json.loads(line[6:])["choices"]:
                    text += choice["delta"].get("content") or ""
    return text


def test_start_stop_and_addresses() -> None:
    server = FakeModelServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert server.openai_base_url == server.url + "/v1"
        assert server.anthropic_base_url == server.url
        assert server.env() == {
            "OPENAI_BASE_URL": server.url + "/v1",
            "OPENAI_API_KEY": "fake-key",
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "fake-key",
        }
        assert stream_text(server.url, openai_body()).startswith(DEFAULT_REPLY)
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{server.port}/v1/chat/completions", json=openai_body())


def test_stop_ends_stalled_streams() -> None:
    server = FakeModelServer().start()
    server.enqueue(Turn(text="a b", stall_after=1))
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as response,
    ):
        for line in response.iter_lines():
            if line:
                server.stop()


def test_code_under_test_may_run_its_own_event_loop(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="from asyncio.run"))

    async def client() -> str:
        async with httpx.AsyncClient() as http:
            response = await http.post(server.openai_base_url + "/chat/completions", json=openai_body(stream=False))
            return response.json()["choices"][0]["message"]["content"]

    assert asyncio.run(client()) == "from asyncio.run"


async def test_async_with() -> None:
    async with FakeModelServer() as server:
        server.enqueue(Turn(text="async ok"))
        async with httpx.AsyncClient() as http:
            response = await http.post(server.openai_base_url + "/chat/completions", json=openai_body(stream=False))
        assert response.json()["choices"][0]["message"]["content"] == "async ok"


def test_port_in_use_raises() -> None:
    with FakeModelServer() as first, pytest.raises(OSError):
        FakeModelServer(port=first.port).start()


def test_responder_and_default_turn(server: FakeModelServer) -> None:
    seen: list[RecordedRequest] = []

    def responder(request: RecordedRequest) -> Turn | None:
        seen.append(request)
        content = request.messages[-1]["content"]
        return Turn(text=f"echo {content}") if content != "skip" else None

    server.enqueue(Turn(text="queued first"))
    server.set_responder(responder)
    assert stream_text(server.url, openai_body("one")) == "queued first"
    assert stream_text(server.url, openai_body("two")) == "echo two"
    assert stream_text(server.url, openai_body("skip")).startswith(DEFAULT_REPLY)
    server.set_default_turn(Turn(text="default now"))
    assert stream_text(server.url, openai_body("skip")) == "default now"
    assert [r.messages[-1]["content"] for r in seen] == ["two", "skip", "skip"]
    server.reset()
    assert server.requests == []
    assert stream_text(server.url, openai_body("x")).startswith(DEFAULT_REPLY)


def test_failing_responder_answers_500(server: FakeModelServer) -> None:
    def responder(request: RecordedRequest) -> Turn:
        raise ValueError("script bug")

    server.set_responder(responder)
    response = httpx.post(server.openai_base_url + "/chat/completions", json=openai_body())
    assert response.status_code == 500
    assert "script bug" in response.json()["error"]["message"]
    assert "script bug" in (server.requests[0].error or "")


def test_enqueue_repeat_and_dict_turns(server: FakeModelServer) -> None:
    server.enqueue({"text": "from dict", "tool_calls": [{"name": "f", "arguments": {"a": 1}}]}, repeat=2)
    assert server.pending == 2
    with pytest.raises(ConfigurationError):
        server.enqueue({"txt": "typo"})
    with pytest.raises(ConfigurationError):
        Turn(status=200)
    with pytest.raises(ConfigurationError):
        Turn(reasoning_field="thoughts")
    assert server.pending == 2


def test_turn_dict_round_trip() -> None:
    turn = Turn(text="x", tool_calls=[FakeToolCall("f", {"a": 1}, id="c1")], stall_after=2, usage={"prompt_tokens": 3})
    assert Turn.from_dict(json.loads(json.dumps(turn.to_dict()))) == turn


async def test_200_concurrent_streams_all_complete(server: FakeModelServer) -> None:
    n = 200
    server.set_default_turn(Turn(text=" ".join(f"w{i}" for i in range(20)), delay=0.01))
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)

    async def one(client: httpx.AsyncClient, i: int) -> str:
        text = ""
        async with client.stream(
            "POST", server.openai_base_url + "/chat/completions", json=openai_body(f"req {i}")
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        return text

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        texts = await asyncio.gather(*(one(client, i) for i in range(n)))
    expected = " ".join(f"w{i}" for i in range(20))
    assert texts == [expected] * n
    requests = server.requests
    assert len(requests) == n
    assert all(r.completed and not r.disconnected_early for r in requests)
    assert sorted(r.messages[0]["content"] for r in requests) == sorted(f"req {i}" for i in range(n))


def test_keep_alive_connection_is_reused(server: FakeModelServer) -> None:
    with httpx.Client() as client:
        for _ in range(3):
            with client.stream("POST", server.openai_base_url + "/chat/completions", json=openai_body()) as r:
                r.read()
    assert len({r.headers.get("host") for r in server.requests}) == 1
    assert len(server.requests) == 3


def test_send_times_are_recorded_when_asked(server: FakeModelServer) -> None:
    """Benchmarks measure a client's delay from the server's write: one wall-clock time per event,
    in order, paced at least `delay` apart (never earlier than the schedule; load only delays)."""
    server.enqueue(Turn(chunks=["a ", "b ", "c ", "d "], delay=0.02, record_send_times=True), Turn(text="plain"))
    assert stream_text(server.url, openai_body()) == "a b c d "
    assert stream_text(server.url, openai_body()) == "plain"
    timed, plain = server.requests
    assert plain.sent_at is None
    assert timed.sent_at is not None and len(timed.sent_at) == timed.chunks_sent
    assert timed.sent_at == sorted(timed.sent_at)
    assert timed.sent_at[-1] - timed.sent_at[0] >= (len(timed.sent_at) - 1) * 0.02 - 0.002
    assert timed.started <= timed.sent_at[0] <= timed.finished  # type: ignore[operator]


def test_long_reply(server: FakeModelServer) -> None:
    server.enqueue(Turn(chunks=[f"t{i} " for i in range(1000)]))
    text = stream_text(server.url, openai_body())
    assert text == "".join(f"t{i} " for i in range(1000))
    assert server.requests[0].chunks_sent == 1003


# -- standalone process -------------------------------------------------------------------------


@pytest.fixture(params=["asyncio", "uvloop"])
def standalone(request: pytest.FixtureRequest) -> Iterator[str]:
    loop = ["--uvloop"] if request.param == "uvloop" else []  # the benchmark's server runs on uvloop
    proc = subprocess.Popen(
        [sys.executable, "-m", "tyler.testing", "--port", "0", "--chunks", "5", *loop],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def test_standalone_process_with_control_endpoints(standalone: str) -> None:
    # --chunks 5 sets the default reply
    assert stream_text(standalone, openai_body()) == "tok0 tok1 tok2 tok3 tok4 "
    response = httpx.post(standalone + "/_fake/enqueue", json=[{"text": "scripted over http"}])
    assert response.status_code == 200 and response.json() == {"pending": 1}
    assert stream_text(standalone, openai_body()) == "scripted over http"
    requests = httpx.get(standalone + "/_fake/requests").json()
    assert [r["api"] for r in requests] == ["openai", "openai"]
    assert requests[1]["completed"] is True
    assert httpx.post(standalone + "/_fake/enqueue", json=[{"bogus": 1}]).status_code == 400
    assert httpx.post(standalone + "/_fake/reset").status_code == 200
    assert httpx.get(standalone + "/_fake/requests").json() == []
    assert httpx.post(standalone + "/_fake/nope").status_code == 404


def test_remote_fake_server_client(standalone: str) -> None:
    with RemoteFakeServer(standalone) as remote:
        remote.enqueue(Turn(text="remote one"), Turn(text="remote two"))
        assert remote.pending == 2
        assert stream_text(standalone, openai_body()) == "remote one"
        assert stream_text(standalone, openai_body()) == "remote two"
        remote.set_default_turn(Turn(text="new default"))
        assert stream_text(standalone, openai_body()) == "new default"
        requests = remote.requests
        assert len(requests) == 3 and isinstance(requests[0], RecordedRequest)
        assert requests[0].body["model"] == "gpt-4"
        remote.enqueue(Turn(text="a " * 100, delay=0.02))
        with httpx.stream("POST", standalone + "/v1/chat/completions", json=openai_body()) as response:
            for i, _ in enumerate(response.iter_lines()):
                if i > 3:
                    break
        assert remote.wait_for_disconnect(timeout=5)
        remote.reset()
        assert remote.requests == []
        assert remote.env()["OPENAI_BASE_URL"] == standalone + "/v1"


def _raw_exchange(port: int, request: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_http_1_0_client_gets_an_unframed_body_and_a_close(server: FakeModelServer) -> None:
    server.enqueue(Turn(text="old client"))
    body = json.dumps(openai_body()).encode()
    raw = _raw_exchange(
        server.port,
        b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body),
    )
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert payload.startswith(b"data: {") and payload.endswith(b"data: [DONE]\n\n")
    assert b'"content":"old "' in payload


def test_garbage_request_gets_a_400_and_is_not_recorded(server: FakeModelServer) -> None:
    raw = _raw_exchange(server.port, b"THIS IS NOT HTTP\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400")
    assert server.requests == []


def test_waits_time_out_with_false(server: FakeModelServer) -> None:
    assert server.wait_for_disconnect(timeout=0.05) is False
    assert server.wait_for_requests(1, timeout=0.05) is False
    assert server.wait_for_request_finished(5, timeout=0.05) is None
    stream_text(server.url, openai_body())
    assert server.wait_for_requests(1, timeout=1)
