"""`/v1/responses` driven by openai-python's strict `responses.stream()` / `responses.create()`."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from conftest import LiveServer
from tyler.testing import FakeModelServer, FakeToolCall, Turn

TIME_TOOL = {"type": "function", "name": "get_time", "description": "Current time.",
             "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}


def client(live: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0, timeout=30)


def test_stream_reasoning_server_tool_and_text(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="Need weather.", tool_calls=[FakeToolCall("get_weather", {"city": "Lima"})],
                     usage={"prompt_tokens": 10, "completion_tokens": 4}),
                Turn(text="Sunny in Lima.", usage={"prompt_tokens": 20, "completion_tokens": 3}))
    with client(live).responses.stream(model="tyler", input="weather in Lima?") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == "Sunny in Lima."
    types = [item.type for item in final.output]
    assert types == ["reasoning", "mcp_call", "message"]
    reasoning, call, _ = final.output
    assert reasoning.summary[0].text == "Need weather."
    assert (call.name, json.loads(call.arguments), call.output) == ("get_weather", {"city": "Lima"}, "Sunny in Lima")
    assert not any(item.type == "function_call" for item in final.output)
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (30, 7)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Sunny in Lima."


def test_create_and_previous_response_id_continue_the_thread(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Hi, I am Tyler."), Turn(text="You asked who I am."))
    api = client(live)
    first = api.responses.create(model="tyler", input=[{"role": "user", "content": "who are you?"}])
    assert first.status == "completed" and first.output_text == "Hi, I am Tyler."
    second = api.responses.create(model="tyler", input="what did I ask?", previous_response_id=first.id)
    assert second.output_text == "You asked who I am."
    assert second.id != first.id
    sent = [m for m in env.requests[1].messages if m["role"] != "system"]
    assert [m["content"] for m in sent] == ["who are you?", "Hi, I am Tyler.", "what did I ask?"]
    with pytest.raises(openai.NotFoundError):
        api.responses.create(model="tyler", input="x", previous_response_id="resp_bm9wZQ_abc")


def test_client_function_tool_round_trip(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_time", {"tz": "UTC"}, id="call_r1")]), Turn(text="Noon."))
    api = client(live)
    with api.responses.stream(model="tyler", input="time?", tools=[TIME_TOOL]) as stream:
        first = stream.get_final_response()
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("call_r1", "get_time", {"tz": "UTC"})
    assert len(env.requests) == 1
    second = api.responses.create(
        model="tyler", previous_response_id=first.id, tools=[TIME_TOOL],
        input=[{"type": "function_call_output", "call_id": "call_r1", "output": "12:00"}])
    assert second.output_text == "Noon."
    assert env.requests[1].messages[-1]["content"] == "12:00"


def test_failure_is_response_failed(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(status=500, error_message="model exploded"))
    with client(live).responses.stream(model="tyler", input="x") as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert "model exploded" in events[-1].response.error.message
    env.enqueue(Turn(status=500, error_message="model exploded"))
    with pytest.raises(openai.APIStatusError) as info:
        client(live).responses.create(model="tyler", input="x")
    assert info.value.status_code == 502


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "tyler", "input": ""}, "input"),
    ({"model": "tyler", "input": [{"type": "nope"}]}, "input[0].type"),
    ({"model": "tyler", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content"),
    ({"model": "tyler", "input": "x", "tools": [{"type": "web_search"}]}, "tools"),
    ({"model": "tyler", "input": [{"type": "function_call_output", "call_id": "zzz", "output": "1"}]},
     "tool_call_id"),
    ({"model": "tyler", "input": "x", "previous_response_id": "not-ours"}, "previous_response_id"),
    ({"model": "tyler", "input": "x", "previous_response_id": "resp_!!!_x"}, "previous_response_id"),
    ({"model": "tyler", "input": "x", "conversation": "a\x00b"}, "conversation"),
])
def test_bad_responses_bodies(live: LiveServer, body: dict, param: str) -> None:
    response = httpx.post(live.url + "/v1/responses", json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["param"] == param


def test_openai_agents_sdk_runs_against_us(live: LiveServer, env: FakeModelServer) -> None:
    agents = pytest.importorskip("agents")
    import asyncio

    env.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Kyiv"})]), Turn(text="Warm in Kyiv."))
    model = agents.OpenAIResponsesModel(
        model="tyler", openai_client=openai.AsyncOpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0))
    agent = agents.Agent(name="proxy", instructions="Be brief.", model=model)

    async def go() -> tuple[str, list]:
        result = agents.Runner.run_streamed(agent, "weather in Kyiv?",
                                            run_config=agents.RunConfig(tracing_disabled=True))
        seen = [event async for event in result.stream_events()]
        return result.final_output, seen

    final, _ = asyncio.run(go())
    assert final == "Warm in Kyiv."
    assert len(env.requests) == 2  # our server ran get_weather; the SDK executed nothing itself
