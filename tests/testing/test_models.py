"""ScriptedModel and FunctionModel: in-process providers, through the public Agent API."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import ConfigurationError, ExecutionError
from tyler.providers.base import ModelChunk, ModelRequest
from tyler.testing import FakeToolCall, FunctionModel, ScriptedModel, Turn
from tyler.testing.models import DEFAULT_IN_PROCESS_REPLY


def user_thread(text: str = "Hello") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """These models must not touch the network: any connect fails the test."""

    def refuse(*args: object) -> None:
        raise AssertionError("an in-process model opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


async def test_scripted_tool_call_then_answer() -> None:
    model = ScriptedModel(Turn(tool_calls=[FakeToolCall("add", {"a": 2, "b": 3})]), Turn(text="It is 5."))
    result = await Agent(provider=model, tools=[add]).go(user_thread("2+3?"))
    assert result.content == "It is 5."
    assert model.pending == 0
    assert len(model.requests) == 2
    tool_message = model.requests[1].messages[-1]
    assert (tool_message.role, tool_message.content) == ("tool", "5")
    assert [t.name for t in model.requests[0].tools] == ["add"]
    call = result.new_messages[0].tool_calls[0]
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}


async def test_scripted_events_stream_every_piece() -> None:
    model = ScriptedModel(Turn(thinking="Let me see.", text="The answer is four.", usage={"prompt_tokens": 7}))
    events = [e async for e in Agent(provider=model).stream(user_thread())]
    text = [e.data["content_chunk"] for e in events if e.type is EventType.LLM_STREAM_CHUNK]
    thinking = [e.data["thinking_chunk"] for e in events if e.type is EventType.LLM_THINKING_CHUNK]
    assert text == ["The ", "answer ", "is ", "four."]
    assert "".join(thinking) == "Let me see."
    end = events[-1]
    assert end.type is EventType.EXECUTION_COMPLETE
    assert end.data["usage"]["prompt_tokens"] == 7
    assert end.data["usage"]["completion_tokens"] == 4 + 3  # words of text and thinking
    reply = end.data["new_messages"][-1]
    assert (reply.content, reply.reasoning_content) == ("The answer is four.", "Let me see.")


async def test_scripted_raw_mode_gets_openai_chunks() -> None:
    model = ScriptedModel(Turn(tool_calls=[FakeToolCall("add", {"a": 1, "b": 1})]), Turn(text="two"))
    chunks = [c async for c in Agent(provider=model, tools=[add]).stream(user_thread(), mode="raw")]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["tool_calls", "stop"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "two"
    assert chunks[-1].usage.total_tokens > 0


async def test_default_reply_after_the_script() -> None:
    model = ScriptedModel(Turn(text="first"))
    agent = Agent(provider=model)
    assert (await agent.go(user_thread())).content == "first"
    assert (await agent.go(user_thread())).content == DEFAULT_IN_PROCESS_REPLY
    model.default = Turn(text="always this")
    model.enqueue(Turn(text="queued"))
    assert (await agent.go(user_thread())).content == "queued"
    assert (await agent.go(user_thread())).content == "always this"


@pytest.mark.parametrize("field", [{"status": 500}, {"abort_after": 2}, {"stall_after": 1}, {"error_event": "x"}])
def test_wire_failures_are_refused(field: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="FakeModelServer"):
        ScriptedModel(Turn(text="x", **field))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ScriptedModel().enqueue(Turn(**field))  # type: ignore[arg-type]


async def test_function_model_from_a_string_or_turn() -> None:
    echo = FunctionModel(lambda request: "echo: " + request.messages[-1].text)
    assert (await Agent(provider=echo).go(user_thread("ping"))).content == "echo: ping"

    async def think(request: ModelRequest) -> Turn:
        return Turn(thinking="hmm", text=f"{len(request.messages)} message(s)")

    result = await Agent(provider=FunctionModel(think)).go(user_thread())
    assert result.content == "1 message(s)"
    assert result.new_messages[-1].reasoning_content == "hmm"


async def test_function_model_streams_an_async_generator() -> None:
    async def pieces(request: ModelRequest) -> AsyncIterator[str | ModelChunk]:
        yield "Hel"
        yield ModelChunk(text="lo")
        yield "!"

    events = [e async for e in Agent(provider=FunctionModel(pieces)).stream(user_thread())]
    assert [e.data["content_chunk"] for e in events if e.type is EventType.LLM_STREAM_CHUNK] == ["Hel", "lo", "!"]
    assert events[-1].data["new_messages"][-1].attributes["finish_reason"] == "stop"


async def test_function_model_errors_fail_the_run_and_keep_the_partial_text() -> None:
    async def explode(request: ModelRequest) -> AsyncIterator[str]:
        yield "partial "
        raise RuntimeError("kaput")

    thread = user_thread()
    with pytest.raises(ExecutionError, match="kaput"):
        await Agent(provider=FunctionModel(explode)).go(thread)
    assert (thread.messages[-1].content, thread.messages[-1].interrupted) == ("partial ", True)


async def test_stopping_the_stream_closes_the_functions_generator() -> None:
    closed = []

    async def endless(request: ModelRequest) -> AsyncIterator[str]:
        try:
            while True:
                yield "more "
        finally:
            closed.append(True)

    async with aclosing(Agent(provider=FunctionModel(endless)).stream(user_thread())) as events:
        async for event in events:
            if event.type is EventType.LLM_STREAM_CHUNK:
                break
    assert closed == [True]


async def test_function_model_refuses_other_results() -> None:
    model = FunctionModel(lambda request: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="must return"):
        await Agent(provider=model).go(user_thread())
