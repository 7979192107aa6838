"""Native endpoints: event streams over SSE and WebSocket, and the threads API."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from conftest import LiveServer
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def sse_events(response: httpx.Response) -> list[dict]:
    """Parse an SSE body into [{id, event, data}] (comments skipped)."""
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return events


def run(live: LiveServer, thread_id: str, body: dict) -> tuple[httpx.Response, list[dict]]:
    with httpx.stream("POST", f"{live.url}/v1/threads/{thread_id}/runs", json=body, timeout=30) as response:
        return response, sse_events(response)


def test_sse_run_streams_every_event_with_ids(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="Hmm.", tool_calls=[FakeToolCall("get_weather", {"city": "Rome"})]),
                Turn(text="Sunny in Rome."))
    response, events = run(live, "native-1", {"input": "weather in Rome?"})
    assert response.headers["x-thread-id"] == "native-1"
    assert [e["id"] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert all(e["event"] == e["data"]["type"] for e in events)
    types = [e["event"] for e in events]
    for expected in ("llm_thinking_chunk", "tool_selected", "tool_result", "llm_stream_chunk"):
        assert expected in types
    assert types[-1] == "execution_complete" and types.count("execution_complete") == 1
    text = "".join(e["data"]["data"]["content_chunk"] for e in events if e["event"] == "llm_stream_chunk")
    assert text == "Sunny in Rome."
    assert events[-1]["data"]["data"]["thread_id"] == "native-1"

    env.enqueue(Turn(text="Still sunny."))
    _, events = run(live, "native-1", {"message": {"role": "user", "content": "and now?"}})
    assert events[-1]["event"] == "execution_complete"
    thread = httpx.get(f"{live.url}/v1/threads/native-1").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert thread["messages"][-1]["content"] == "Still sunny."


def test_sse_run_failure_is_execution_error_event(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(status=500, error_message="upstream broke"))
    _, events = run(live, "native-err", {"input": "x"})
    assert events[-1]["event"] == "execution_error"
    assert "upstream broke" in events[-1]["data"]["data"]["message"]


def test_bad_run_bodies(live: LiveServer) -> None:
    url = f"{live.url}/v1/threads/t/runs"
    for body, param in (({}, "input"), ({"input": "  "}, "input"), ({"input": "x", "model": 3}, "model"),
                        ({"message": {"role": "assistant", "content": "x"}}, "message.role")):
        response = httpx.post(url, json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, body
    response = httpx.post(url, json={"input": "x", "model": "nope"})
    assert response.status_code == 404 and response.json()["error"]["type"] == "model_not_found"
    assert httpx.get(f"{live.url}/v1/threads/t").status_code == 404  # nothing was stored


def test_threads_list_get_delete(live: LiveServer, env: FakeModelServer) -> None:
    for name in ("a", "b"):
        run(live, f"list-{name}", {"input": f"hello {name}"})
    listed = httpx.get(f"{live.url}/v1/threads").json()
    assert {t["id"] for t in listed["data"]} >= {"list-a", "list-b"}
    assert all(t["message_count"] == 2 for t in listed["data"])
    assert len(httpx.get(f"{live.url}/v1/threads?limit=1").json()["data"]) == 1
    thread = httpx.get(f"{live.url}/v1/threads/list-a").json()
    assert thread["messages"][0]["content"] == "hello a"
    assert httpx.delete(f"{live.url}/v1/threads/list-a").json()["deleted"] is True
    assert httpx.get(f"{live.url}/v1/threads/list-a").status_code == 404
    assert httpx.get(f"{live.url}/v1/threads/list-b").status_code == 200


def test_websocket_chat_continues_one_thread_and_cancels(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="First reply."), Turn(text=" ".join(["long"] * 300), delay=0.02))

    async def session() -> tuple[list[dict], list[dict], list[dict]]:
        async with websockets.connect(live.url.replace("http", "ws") + "/v1/ws") as ws:
            await ws.send(json.dumps({"content": "hello"}))
            first = [json.loads(await ws.recv())]
            while first[-1]["type"] not in ("execution_complete", "execution_error"):
                first.append(json.loads(await ws.recv()))
            await ws.send("not json")
            errors = [json.loads(await ws.recv())]
            await ws.send(json.dumps({"content": "write a lot"}))
            second = [json.loads(await ws.recv())]
            while second[-1]["type"] != "llm_stream_chunk":
                second.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"content": "too soon"}))
            await ws.send(json.dumps({"type": "cancel"}))
            while second[-1]["type"] not in ("execution_complete", "execution_error"):
                message = json.loads(await ws.recv())
                (errors if message["type"] == "error" else second).append(message)
            return first, second, errors

    first, second, errors = asyncio.run(session())
    assert "".join(m["data"]["content_chunk"] for m in first if m["type"] == "llm_stream_chunk") == "First reply."
    thread_id = first[-1]["data"]["thread_id"]
    assert errors[0]["error"]["type"] == "invalid_json"
    assert errors[1]["error"]["type"] == "run_in_progress"
    assert second[-1]["type"] == "execution_error"
    assert second[-1]["data"]["error_type"] == "RunCancelledError"
    assert env.wait_for_disconnect(timeout=10)
    thread = httpx.get(f"{live.url}/v1/threads/{thread_id}").json()
    roles = [m["role"] for m in thread["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert thread["messages"][-1]["interrupted"] is True
