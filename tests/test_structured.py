"""Structured output against the fake model server on both wire formats.

OpenAI gets `response_format` json_schema (strict when the schema allows it); Anthropic gets the
`final_result` output tool with a forced tool_choice. The fake server refuses what the real APIs
refuse (a strict schema that is not closed, a tool_choice naming no tool), so these requests are
checked for shape as well as for what the loop does with the answers.
"""

from __future__ import annotations

import json
from contextlib import aclosing

import pytest
from pydantic import BaseModel, Field

from tyler import Agent, EventType, Message, RetryConfig, Thread
from tyler.exceptions import ConfigurationError, StructuredOutputError
from tyler.testing import FakeModelServer, FakeToolCall, Turn

OPENAI, ANTHROPIC = "gpt-4o", "anthropic/claude-sonnet-4-5"
BOTH = pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str
    population_millions: float = Field(ge=0)


PARIS = {"name": "Paris", "country": "France", "population_millions": 2.1}


def answer(model: str, value: object, **kw: object) -> Turn:
    """The model's answer turn in the shape each API uses for structured output."""
    text = value if isinstance(value, str) else json.dumps(value)
    if model == OPENAI:
        return Turn(text=text, **kw)
    return Turn(tool_calls=[FakeToolCall("final_result", text)], **kw)


def thread_of(text: str = "Tell me about Paris.") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


@BOTH
async def test_valid_first_time(env: FakeModelServer, model: str) -> None:
    env.enqueue(answer(model, PARIS))
    thread = thread_of()
    result = await Agent(model_name=model).run(thread, response_type=City)
    assert result.structured_data == City(**PARIS)
    assert result.validation_retries == 0 and result.retry_history == []
    body = env.requests[0].body
    if model == OPENAI:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City"
        assert fmt["json_schema"]["schema"]["additionalProperties"] is False
        assert fmt["json_schema"]["strict"] is True  # closed, every field required
        assert "tools" not in body
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "final_result"}
        (tool,) = body["tools"]
        assert tool["name"] == "final_result" and set(tool["input_schema"]["properties"]) == set(PARIS)
        # The output tool's call is answered, so the thread can be continued.
        assert [m.role for m in thread.messages] == ["user", "assistant", "tool"]


class WithDefault(BaseModel):
    word: str
    count: int = 1


async def test_not_strict_when_a_field_is_optional(env: FakeModelServer) -> None:
    env.enqueue(Turn(text='{"word": "yes"}'))
    result = await Agent(model_name=OPENAI, response_type=WithDefault).run(thread_of())
    assert result.structured_data == WithDefault(word="yes", count=1)
    assert env.requests[0].body["response_format"]["json_schema"]["strict"] is False


@BOTH
async def test_invalid_then_valid_keeps_retry_history(env: FakeModelServer, model: str) -> None:
    env.enqueue(
        answer(model, {"name": "Paris", "country": "France", "population_millions": -1}),
        answer(model, "not json at all"),
        answer(model, PARIS),
    )
    thread = thread_of()
    result = await Agent(model_name=model).run(thread, response_type=City)
    assert result.structured_data == City(**PARIS)
    assert result.validation_retries == 2
    first, second = result.retry_history
    assert first["attempt"] == 1 and first["errors"][0]["loc"] == ["population_millions"]
    assert second["output"] == "not json at all" and second["errors"][0]["type"] == "json_invalid"
    # The model was told what was wrong, in the shape of its API.
    retry_request = env.requests[1].body["messages"]
    said = json.dumps(retry_request[-1])
    assert "population_millions" in said and "greater than or equal to 0" in said
    if model == OPENAI:
        assert retry_request[-1]["role"] == "user"
    else:
        assert retry_request[-1]["content"][0]["type"] == "tool_result" and retry_request[-1]["content"][0]["is_error"]
    assert len(env.requests) == 3


@BOTH
async def test_never_valid_is_a_typed_error_and_nothing_is_lost(env: FakeModelServer, model: str) -> None:
    env.enqueue(*(answer(model, {"name": "Paris"}) for _ in range(3)))
    thread = thread_of()
    agent = Agent(model_name=model, retry_config=RetryConfig(max_retries=2))
    with pytest.raises(StructuredOutputError) as info:
        await agent.run(thread, response_type=City)
    err = info.value
    assert err.last_output == '{"name": "Paris"}'
    assert {e["loc"][0] for e in err.validation_errors} == {"country", "population_millions"}
    assert [h["attempt"] for h in err.retry_history] == [1, 2, 3]
    assert len(env.requests) == 3
    # Every attempt stays on the thread, and the thread is valid to continue (calls answered).
    assistants = [m for m in thread.messages if m.role == "assistant"]
    assert len(assistants) == 3
    env.enqueue(Turn(text="plain reply"))
    assert (await agent.run(thread)).content == "plain reply"


async def test_no_retries_when_retry_on_validation_error_is_off(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="{}"))
    agent = Agent(model_name=OPENAI, response_type=City, retry_config=RetryConfig(retry_on_validation_error=False))
    events = [e async for e in agent.stream(thread_of())]
    invalid = [e for e in events if e.type is EventType.STRUCTURED_OUTPUT_INVALID]
    assert len(invalid) == 1 and invalid[0].data["will_retry"] is False
    assert events[-1].type is EventType.EXECUTION_ERROR
    assert isinstance(events[-1].data["exception"], StructuredOutputError)
    assert len(env.requests) == 1


@BOTH
async def test_partial_json_streams_then_complete_carries_the_object(env: FakeModelServer, model: str) -> None:
    text = json.dumps(PARIS)
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    if model == OPENAI:
        env.enqueue(Turn(chunks=pieces))
    else:
        env.enqueue(Turn(tool_calls=[FakeToolCall("final_result", text, chunks=pieces)]))
    seen: list[str] = []
    async with aclosing(Agent(model_name=model).stream(thread_of(), response_type=City)) as events:
        async for event in events:
            if event.type is EventType.LLM_STREAM_CHUNK:
                seen.append(event.data["content_chunk"])
            last = event
    assert seen == pieces  # a UI can render the object while it is written
    assert last.type is EventType.EXECUTION_COMPLETE
    assert last.data["structured_data"] == City(**PARIS)


@BOTH
async def test_tools_run_before_the_final_answer(env: FakeModelServer, model: str) -> None:
    calls: list[str] = []

    def population(city: str) -> float:
        """Population of a city in millions."""
        calls.append(city)
        return 2.1

    env.enqueue(
        Turn(tool_calls=[FakeToolCall("population", {"city": "Paris"})]),
        answer(model, PARIS),
    )
    result = await Agent(model_name=model, tools=[population]).run(thread_of(), response_type=City)
    assert calls == ["Paris"] and result.structured_data == City(**PARIS)
    body = env.requests[0].body
    if model == ANTHROPIC:
        assert body["tool_choice"] == {"type": "any"}
        assert {t["name"] for t in body["tools"]} == {"population", "final_result"}
    else:
        assert {t["function"]["name"] for t in body["tools"]} == {"population"}


def test_bad_configuration() -> None:
    with pytest.raises(ConfigurationError, match="pydantic model class"):
        Agent(response_type=dict)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_retries"):
        RetryConfig(max_retries=-1)
    with pytest.raises(ConfigurationError, match="retry_config must be a RetryConfig"):
        Agent(retry_config={"max_retries": 1})  # type: ignore[arg-type]


async def test_fake_server_refuses_what_openai_refuses(env: FakeModelServer) -> None:
    import httpx

    base = env.env()["OPENAI_BASE_URL"]
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "X", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{base}/chat/completions", json=body, headers={"Authorization": "Bearer k"})
        assert r.status_code == 400 and "additionalProperties" in r.text
        body.pop("response_format")
        body["tool_choice"] = {"type": "function", "function": {"name": "nope"}}
        body["tools"] = [{"type": "function", "function": {"name": "yes", "parameters": {"type": "object"}}}]
        r = await client.post(f"{base}/chat/completions", json=body, headers={"Authorization": "Bearer k"})
        assert r.status_code == 400 and "'nope'" in r.text
