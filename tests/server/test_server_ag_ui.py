"""`POST /ag-ui` driven by the real `@ag-ui/client` HttpAgent (its verifyEvents checks the order)."""

from __future__ import annotations

from pathlib import Path

import httpx

from conftest import LiveServer, run_node
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def test_run_with_text_thinking_and_server_tool_passes_verify_events(
    live: LiveServer, env: FakeModelServer, node_clients: Path
) -> None:
    env.enqueue(Turn(thinking="Look it up.", tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"})],
                     usage={"prompt_tokens": 3, "completion_tokens": 2}),
                Turn(text="Cold in Oslo.", usage={"prompt_tokens": 5, "completion_tokens": 3}))
    out = run_node(node_clients / "ag_ui_client.mjs", live.url + "/ag-ui", "agui-1", "weather?")
    assert out["error"] is None
    kinds = [e["type"] for e in out["events"]]
    assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED"
    for expected in ("REASONING_START", "REASONING_MESSAGE_CONTENT", "REASONING_END", "TOOL_CALL_START",
                     "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT", "TEXT_MESSAGE_CONTENT"):
        assert expected in kinds
    finished = out["events"][-1]
    assert finished["outcome"] == {"type": "success"}
    assert finished["usage"][0]["outputTokens"] == 5
    roles = [m["role"] for m in out["messages"]]
    assert roles[0] == "user" and "tool" in roles and roles[-1] == "assistant"
    assert out["messages"][-1]["content"] == "Cold in Oslo."
    thread = httpx.get(f"{live.url}/v1/threads/agui-1").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_frontend_tool_ends_the_run_and_the_client_continues(
    live: LiveServer, env: FakeModelServer, node_clients: Path
) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_time", {}, id="call_ft")]), Turn(text="It is noon."))
    out = run_node(node_clients / "ag_ui_client.mjs", live.url + "/ag-ui", "agui-2", "time?", "get_time")
    assert out["error"] is None
    finishes = [e for e in out["events"] if e["type"] == "RUN_FINISHED"]
    assert finishes[0]["outcome"] == {"type": "success", "pendingToolCallIds": ["call_ft"]}
    assert not any(e["type"] == "TOOL_CALL_RESULT" for e in out["events"])  # the server did not run it
    assert len(out["runs"]) == 2 and out["messages"][-1]["content"] == "It is noon."
    assert env.requests[1].messages[-1]["content"] == "12:00"


def test_a_new_client_joining_a_thread_gets_its_messages_and_state(
    live: LiveServer, env: FakeModelServer, node_clients: Path
) -> None:
    env.enqueue(Turn(thinking="Look it up.", tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"}, id="call_w")]),
                Turn(text="Cold in Oslo."), Turn(text="Still cold."))
    out = run_node(node_clients / "ag_ui_join.mjs", live.url + "/ag-ui", "agui-join", "weather?", "and now?")
    first, second = out["first"], out["second"]
    assert first["error"] is None and second["error"] is None  # verifyEvents accepted both streams
    assert [e["type"] for e in second["events"][:3]] == ["RUN_STARTED", "MESSAGES_SNAPSHOT", "STATE_SNAPSHOT"]
    assert second["state"] == {"theme": "dark", "step": 1}  # kept from the first client
    history = [(m["role"], m.get("content"), [c["function"]["name"] for c in m.get("toolCalls") or []])
               for m in second["messages"]]
    assert history == [
        ("user", "weather?", []), ("reasoning", "Look it up.", []), ("assistant", None, ["get_weather"]),
        ("tool", "Sunny in Oslo", []), ("assistant", "Cold in Oslo.", []), ("user", "and now?", []),
        ("assistant", "Still cold.", [])]
    ids = [m["id"] for m in second["messages"]]
    assert len(set(ids)) == len(ids)
    # The first client's own view after its run: the same messages, once each.
    assert [m["id"] for m in first["messages"]] == ids[:5]


def test_failure_is_run_error_without_run_finished(live: LiveServer, env: FakeModelServer, node_clients: Path) -> None:
    env.enqueue(Turn(status=500, error_message="agui upstream down"))
    out = run_node(node_clients / "ag_ui_client.mjs", live.url + "/ag-ui", "agui-3", "x")
    kinds = [e["type"] for e in out["events"]]
    assert "RUN_ERROR" in kinds and "RUN_FINISHED" not in kinds
    (error,) = [e for e in out["events"] if e["type"] == "RUN_ERROR"]
    assert "agui upstream down" in error["message"]


def test_bad_run_agent_input(live: LiveServer) -> None:
    base = {"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "user", "content": "hi"}]}
    for body, param in (({**base, "threadId": ""}, "threadId"), ({**base, "threadId": "a\x00"}, "threadId"),
                        ({**base, "messages": "x"}, "messages"),
                        ({**base, "messages": []}, "messages"),
                        ({**base, "messages": [{"id": "1", "role": "robot"}]}, "messages[0].role"),
                        ({**base, "tools": [{"name": "bad name"}]}, "tools[0]"),
                        ({**base, "forwardedProps": {"model": "nope"}}, "forwardedProps.model"),
                        ({**base, "messages": [*base["messages"], {"id": "2", "role": "tool", "toolCallId": "call_nope",
                                                                   "content": "12:00"}]}, "tool_call_id")):
        response = httpx.post(live.url + "/ag-ui", json=body)
        assert 400 <= response.status_code < 500 and response.json()["error"]["param"] == param, body
