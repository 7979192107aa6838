"""`/v1/chat/completions` and `/v1/models` driven by the official `openai` SDK over real sockets."""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest

from conftest import LiveServer
from tyler.testing import FakeModelServer, FakeToolCall, Turn

TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a timezone.",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}}


def client(live: LiveServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_models_lists_every_agent(live: LiveServer) -> None:
    models = client(live).models.list()
    assert [m.id for m in models.data] == ["tyler"]
    assert models.data[0].object == "model"


def test_stream_text_reasoning_usage_one_id(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="Let me think.", text="Hello there, friend.",
                     usage={"prompt_tokens": 11, "completion_tokens": 7}))
    chunks = list(client(live).chat.completions.create(
        model="tyler", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    ))
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
                        for c in chunks if c.choices)
    assert text == "Hello there, friend."
    assert reasoning == "Let me think."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (11, 7)
    assert all(c.usage is None for c in chunks[:-1])


def test_reasoning_alias_sends_thinking_as_reasoning_too(serve, env: FakeModelServer) -> None:
    live = serve(reasoning_alias=True)
    env.enqueue(Turn(thinking="Let me think.", text="Hi."), Turn(thinking="Once more.", text="Hi again."))
    chunks = list(client(live).chat.completions.create(
        model="tyler", messages=[{"role": "user", "content": "hi"}], stream=True))
    extras = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    assert "".join(e.get("reasoning") or "" for e in extras) == "Let me think."
    assert "".join(e.get("reasoning_content") or "" for e in extras) == "Let me think."
    reply = client(live).chat.completions.create(model="tyler", messages=[{"role": "user", "content": "hi"}])
    extra = reply.choices[0].message.model_extra
    assert extra["reasoning"] == extra["reasoning_content"] == "Once more."


def test_reasoning_alias_is_off_by_default(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="Quiet.", text="Hi."))
    reply = client(live).chat.completions.create(model="tyler", messages=[{"role": "user", "content": "hi"}])
    extra = reply.choices[0].message.model_extra
    assert extra["reasoning_content"] == "Quiet." and "reasoning" not in extra


def test_server_tools_never_leak_as_tool_calls(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Checking.", tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
                Turn(text="It is sunny in Paris."))
    chunks = list(client(live).chat.completions.create(
        model="tyler", messages=[{"role": "user", "content": "weather?"}], stream=True))
    assert all(not c.choices or c.choices[0].delta.tool_calls is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking.\n\nIt is sunny in Paris."
    assert chunks[-1].choices[0].finish_reason == "stop"
    second = env.requests[1].messages
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "Sunny in Paris"


def test_tool_activity_shown_as_reasoning_when_enabled(serve, env: FakeModelServer) -> None:
    live = serve(tool_activity=True)
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"})]), Turn(text="Cold."))
    reply = client(live).chat.completions.create(model="tyler", messages=[{"role": "user", "content": "w?"}])
    assert reply.choices[0].message.tool_calls is None
    reasoning = reply.choices[0].message.model_extra["reasoning_content"]
    assert "get_weather" in reasoning and "Sunny in Oslo" in reasoning


def test_non_streaming_reply_with_usage(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Plain answer.", usage={"prompt_tokens": 5, "completion_tokens": 2}))
    reply = client(live).chat.completions.with_raw_response.create(
        model="tyler", messages=[{"role": "user", "content": "q"}])
    completion = reply.parse()
    assert completion.choices[0].message.content == "Plain answer."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 7
    thread = httpx.get(f"{live.url}/v1/threads/{reply.headers['x-thread-id']}").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]


@pytest.mark.parametrize("stream", [True, False])
def test_client_tools_round_trip(live: LiveServer, env: FakeModelServer, stream: bool) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_time", {"tz": "UTC"}, id="call_t1")]), Turn(text="It is noon."))
    api = client(live)
    messages = [{"role": "user", "content": "time?"}]
    kwargs = {"model": "tyler", "tools": [TIME_TOOL], "extra_body": {"thread_id": f"conv-{stream}"}}
    if stream:
        chunks = list(api.chat.completions.create(messages=messages, stream=True, **kwargs))
        deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
        assert deltas[0].id == "call_t1" and deltas[0].function.name == "get_time"
        assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"tz": "UTC"}
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        call = {"id": "call_t1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz":"UTC"}'}}
    else:
        reply = api.chat.completions.create(messages=messages, **kwargs)
        assert reply.choices[0].finish_reason == "tool_calls"
        (tc,) = reply.choices[0].message.tool_calls
        assert (tc.id, tc.function.name, json.loads(tc.function.arguments)) == ("call_t1", "get_time", {"tz": "UTC"})
        call = tc.model_dump()
    assert len(env.requests) == 1  # the server did not run the client's tool
    assert any(t["function"]["name"] == "get_time" for t in env.requests[0].body["tools"])
    messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                 {"role": "tool", "tool_call_id": "call_t1", "content": "12:00"}]
    final = api.chat.completions.create(messages=messages, **kwargs)
    assert final.choices[0].message.content == "It is noon."
    sent = env.requests[1].messages
    assert sent[-1] == {"role": "tool", "content": "12:00", "tool_call_id": "call_t1"} or (
        sent[-1]["tool_call_id"] == "call_t1" and sent[-1]["content"] == "12:00")
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user", "assistant", "tool"]


def test_regenerate_with_a_thread_id_replaces_the_reply(live: LiveServer, env: FakeModelServer) -> None:
    # Open WebUI's regenerate with a thread id: the same conversation sent again without the last answer.
    env.enqueue(Turn(text="A1"), Turn(text="A2"), Turn(text="A2 again"), Turn(text="A3"))
    api, kwargs = client(live), {"model": "tyler", "extra_body": {"thread_id": "regen-cc"}}
    user = lambda text: {"role": "user", "content": text}  # noqa: E731
    so_far = [user("Q1"), {"role": "assistant", "content": "A1"}, user("Q2")]
    api.chat.completions.create(messages=[user("Q1")], **kwargs)
    assert api.chat.completions.create(messages=so_far, **kwargs).choices[0].message.content == "A2"
    again = api.chat.completions.create(messages=so_far, stream=True, **kwargs)
    assert "".join(c.choices[0].delta.content or "" for c in again if c.choices) == "A2 again"
    assert [(m["role"], m["content"]) for m in env.requests[2].messages if m["role"] != "system"] == [
        ("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    shown = lambda: [m["content"] for m in httpx.get(f"{live.url}/v1/threads/regen-cc").json()["messages"]]  # noqa: E731
    assert shown() == ["Q1", "A1", "Q2", "A2 again"]
    # A changed question from a client whose copy is older is a new turn: nothing of the thread is replaced.
    api.chat.completions.create(messages=[*so_far[:2], user("Q3")], **kwargs)
    assert shown() == ["Q1", "A1", "Q2", "A2 again", "Q3", "A3"]


def test_error_mid_stream_raises_api_error(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Partial answer then", error_event="overloaded_error"))
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client(live).chat.completions.create(
            model="tyler", messages=[{"role": "user", "content": "x"}], stream=True):
            seen.append(chunk)
    assert "overloaded" in str(info.value).lower() or "error" in str(info.value).lower()
    assert "".join(c.choices[0].delta.content or "" for c in seen if c.choices).startswith("Partial")


def test_heartbeat_and_stream_headers(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Late reply.", first_byte_delay=1.5))
    body = {"model": "tyler", "messages": [{"role": "user", "content": "x"}], "stream": True}
    lines = []
    with httpx.stream("POST", f"{live.url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    first_content = next(i for i, line in enumerate(lines) if "Late" in line)
    assert ": ping" in lines[:first_content]
    assert lines[-2:] == ["data: [DONE]", ""] or lines[-1] == "data: [DONE]"


def _wait_thread(live: LiveServer, thread_id: str, predicate, timeout: float = 10.0) -> dict:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        thread = httpx.get(f"{live.url}/v1/threads/{thread_id}").json()
        if predicate(thread):
            return thread
        done.wait(0.05)
    raise AssertionError(f"thread never matched: {thread}")


def test_disconnect_stops_run_and_keeps_partial(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text=" ".join(f"word{i}" for i in range(400)), delay=0.02))
    body = {"model": "tyler", "messages": [{"role": "user", "content": "long"}], "stream": True}
    with httpx.stream("POST", f"{live.url}/v1/chat/completions", json=body, timeout=30) as response:
        thread_id = response.headers["x-thread-id"]
        for line in response.iter_lines():
            if "word3" in line:
                break
    assert env.wait_for_disconnect(timeout=10), "the upstream model request was not closed"
    thread = _wait_thread(live, thread_id, lambda t: len(t["messages"]) == 2)
    partial = thread["messages"][1]
    assert partial["interrupted"] is True and partial["content"].startswith("word0 word1 word2 word3")
    assert len(live.state.registry) == 0


def test_cancel_endpoint_ends_stream_cleanly(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text=" ".join(f"w{i}" for i in range(400)), delay=0.02))
    api = client(live)
    raw = api.chat.completions.with_streaming_response.create(
        model="tyler", messages=[{"role": "user", "content": "go"}], stream=True)
    with raw as response:
        run_id = response.headers["x-run-id"]
        chunks = []
        for chunk in response.parse():
            chunks.append(chunk)
            if len(chunks) == 3:
                cancel = httpx.post(f"{live.url}/v1/runs/{run_id}/cancel")
                assert cancel.status_code == 200
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert env.wait_for_disconnect(timeout=10)
    assert httpx.post(f"{live.url}/v1/runs/{run_id}/cancel").status_code == 404
