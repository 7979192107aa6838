"""`POST /api/chat` driven by the real Vercel AI SDK client (ai@6 in Node), and the library's
`mode="vercel"` / `"vercel_objects"` from the same encoder."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from conftest import LiveServer, run_node, weather_agent
from tyler import Message, Thread, ThreadStore
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def test_ai_sdk_transport_and_chat_get_text_reasoning_and_tool_parts(
    serve, env: FakeModelServer, node_clients: Path
) -> None:
    live = serve(api_keys=["k"])
    turns = [Turn(thinking="Check the weather.", tool_calls=[FakeToolCall("get_weather", {"city": "Nice"})],
                  usage={"prompt_tokens": 4, "completion_tokens": 2}),
             Turn(text="Sunny in Nice.", usage={"prompt_tokens": 9, "completion_tokens": 3})]
    env.enqueue(*turns, *turns, Turn(text="Second answer."))
    out = run_node(node_clients / "ai_sdk_client.mjs", live.url + "/api/chat", "chat-ai", "weather?", "again")
    assert out["streamErrors"] == []
    kinds = [c["type"] for c in out["chunks"]]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert {"reasoning-start", "tool-input-start", "tool-input-delta", "tool-input-available",
            "tool-output-available", "text-delta", "start-step", "finish-step"} <= set(kinds)
    assert out["chunks"][-1]["finishReason"] == "stop"
    assert out["chunks"][-1]["messageMetadata"]["usage"]["outputTokens"] == 5  # both model turns
    parts = out["message"]["parts"]
    assert [p["type"] for p in parts if p["type"] != "step-start"] == ["reasoning", "dynamic-tool", "text"]
    tool = next(p for p in parts if p["type"] == "dynamic-tool")
    assert (tool["toolName"], tool["state"], tool["input"], tool["output"]) == (
        "get_weather", "output-available", {"city": "Nice"}, "Sunny in Nice")
    assert parts[-1]["text"] == "Sunny in Nice."
    chat = out["chat"]
    assert chat["status"] == "ready" and chat["error"] is None
    assert out["toolCalls"] == []  # providerExecuted: the client never runs our tool
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "user", "assistant"]
    assert chat["messages"][-1]["parts"][-1]["text"] == "Second answer."
    thread = httpx.get(f"{live.url}/v1/threads/chat-ai", headers={"authorization": "Bearer k"}).json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "tool", "assistant", "user", "assistant"]


def test_ai_sdk_regenerate_and_edit_replace_the_stored_reply(
    serve, env: FakeModelServer, node_clients: Path, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'threads.db'}"
    live = serve(store=url)
    env.enqueue(Turn(text="A1"), Turn(text="A2"), Turn(text="A2 again"), Turn(text="A1 edited"))
    out = run_node(node_clients / "ai_sdk_regenerate.mjs", live.url + "/api/chat", "chat-regen", "Q1", "Q2", "Q1b")
    bodies, steps = out["bodies"], {s["name"]: s for s in out["steps"]}
    assert [b["trigger"] for b in bodies] == ["submit-message", "submit-message", "regenerate-message",
                                              "submit-message"]
    assert all(s["status"] == "ready" and s["error"] is None for s in steps.values()), steps
    texts = lambda messages: [(m["role"], m["text"]) for m in messages]  # noqa: E731
    assert texts(steps["regenerate"]["messages"]) == [
        ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2 again")]
    assert texts(steps["edit"]["messages"]) == [("user", "Q1b"), ("assistant", "A1 edited")]
    # What the model was asked: the regenerated turn without the replaced answer, the edit without the old turns.
    sent = [[(m["role"], m["content"]) for m in r.messages if m["role"] != "system"] for r in env.requests]
    assert sent[2] == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    assert sent[3] == [("user", "Q1b")]
    # The server's view is the client's; the store keeps the replaced messages, marked.
    shown = httpx.get(f"{live.url}/v1/threads/chat-regen").json()["messages"]
    assert [(m["role"], m["content"]) for m in shown] == [("user", "Q1b"), ("assistant", "A1 edited")]

    async def stored() -> list[Message]:
        async with ThreadStore(url) as store:
            return (await store.get_thread("chat-regen")).messages

    raw = asyncio.run(stored())
    marks = [(m.content, (m.attributes.get("replaced") or {}).get("reason")) for m in raw]
    assert dict(marks) == {"Q1": "edit", "A1": "edit", "Q2": "edit", "A2": "regenerate", "A2 again": "edit",
                           "Q1b": None, "A1 edited": None}


def test_ai_sdk_regenerate_refuses_a_conversation_that_changed_elsewhere(
    live: LiveServer, env: FakeModelServer
) -> None:
    env.enqueue(Turn(text="A1"))
    user = lambda text: {"id": text, "role": "user", "parts": [{"type": "text", "text": text}]}  # noqa: E731
    with httpx.stream("POST", live.url + "/api/chat", json={"id": "c-409", "messages": [user("Q1")]}) as r:
        r.read()
    body = {"id": "c-409", "trigger": "regenerate-message", "messages": [user("other question")]}
    response = httpx.post(live.url + "/api/chat", json=body)
    assert response.status_code == 409 and response.json()["error"]["type"] == "conversation_conflict"
    shown = httpx.get(f"{live.url}/v1/threads/c-409").json()["messages"]
    assert [(m["role"], m["content"]) for m in shown] == [("user", "Q1"), ("assistant", "A1")]


def test_ai_sdk_error_mid_stream_reaches_the_chat(live: LiveServer, env: FakeModelServer, node_clients: Path) -> None:
    env.enqueue(Turn(status=500, error_message="boom upstream"), Turn(status=500, error_message="boom upstream"))
    out = run_node(node_clients / "ai_sdk_client.mjs", live.url + "/api/chat", "chat-err", "x")
    (error,) = [c for c in out["chunks"] if c["type"] == "error"]
    assert "boom upstream" in error["errorText"]
    assert out["chunks"][-1] == {"type": "finish", "finishReason": "error"}
    assert out["streamErrors"] and "boom upstream" in out["streamErrors"][0]
    assert out["chat"]["status"] == "error" and "boom upstream" in out["chat"]["error"]


def test_bad_ai_sdk_bodies_and_resume(live: LiveServer) -> None:
    cases = (({"messages": []}, "messages"), ({"messages": [{"role": "user", "parts": []}]}, "messages[0].parts"),
             ({"id": 5, "messages": []}, "id"), ({"trigger": "resume-stream", "messages": []}, "trigger"),
             ({"messageId": 5, "messages": [{"role": "user", "parts": [{"type": "text", "text": "x"}]}]}, "messageId"))
    for body, param in cases:
        response = httpx.post(live.url + "/api/chat", json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, body
    assert httpx.get(live.url + "/api/chat/any/stream").status_code == 204


def test_library_vercel_modes_share_the_encoder(env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Bern"})]), Turn(text="Cool."), repeat=2)

    async def collect(mode: str) -> list:
        thread = Thread(messages=[Message(role="user", content="w?")])
        return [item async for item in weather_agent().stream(thread, mode=mode)]

    objects = asyncio.run(collect("vercel_objects"))
    strings = asyncio.run(collect("vercel"))
    assert strings[-1] == "data: [DONE]\n\n"
    decoded = [json.loads(s.removeprefix("data: ")) for s in strings[:-1]]
    strip = lambda parts: [{k: v for k, v in p.items() if k not in ("messageId", "id", "toolCallId", "messageMetadata")}  # noqa: E731
                           for p in parts]
    assert strip(decoded) == strip(objects)
    assert [p["type"] for p in objects if p["type"].startswith("tool-")] == [
        "tool-input-start", "tool-input-delta", "tool-input-delta", "tool-input-delta", "tool-input-available",
        "tool-output-available"]
    executed = [p for p in objects if p["type"].startswith("tool-") and "delta" not in p["type"]]
    assert all(p["providerExecuted"] is True for p in executed)
