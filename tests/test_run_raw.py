"""Raw mode (`mode="raw"`/"openai"): OpenAI chat.completion.chunk values, tools still executed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tyler import Agent, AgentResult, EventType, ExecutionEvent, Message, Thread
from tyler.exceptions import AuthenticationError, ConfigurationError, ModelConnectionError, ModelResponseError
from tyler.testing import FakeModelServer, FakeToolCall, Turn

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])


def user_thread(text: str = "Hello!") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def raw_chunks(agent: Agent, thread: Thread, mode: str = "raw") -> list[Any]:
    return [chunk async for chunk in agent.stream(thread, mode=mode)]


def delta_content(chunk: Any) -> str | None:
    """Exactly what the spec's raw example does."""
    if hasattr(chunk, "choices") and chunk.choices:
        delta = chunk.choices[0].delta
        if isinstance(delta, dict):
            return delta.get("content")
        return getattr(delta, "content", None)
    return None


def serialize_chunk_to_sse(chunk: Any) -> str:
    """The spec's SSE serializer, verbatim in behaviour."""
    chunk_dict: dict[str, Any] = {
        "id": getattr(chunk, "id", "unknown"),
        "object": getattr(chunk, "object", "chat.completion.chunk"),
        "created": getattr(chunk, "created", 0),
        "model": getattr(chunk, "model", "unknown"),
        "choices": [],
    }
    if hasattr(chunk, "choices") and chunk.choices:
        for choice in chunk.choices:
            choice_dict: dict[str, Any] = {
                "index": getattr(choice, "index", 0),
                "delta": {},
                "finish_reason": getattr(choice, "finish_reason", None),
            }
            if hasattr(choice, "delta"):
                delta = choice.delta
                if isinstance(delta, dict):
                    choice_dict["delta"] = delta
                else:
                    if hasattr(delta, "content") and delta.content:
                        choice_dict["delta"]["content"] = delta.content
                    if hasattr(delta, "role") and delta.role:
                        choice_dict["delta"]["role"] = delta.role
            chunk_dict["choices"].append(choice_dict)
    if hasattr(chunk, "usage") and chunk.usage:
        chunk_dict["usage"] = {
            "prompt_tokens": chunk.usage.prompt_tokens,
            "completion_tokens": chunk.usage.completion_tokens,
            "total_tokens": chunk.usage.total_tokens,
        }
    return f"data: {json.dumps(chunk_dict)}\n\n"


@BOTH
async def test_raw_chunks_are_openai_shaped(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="Hello there, proxy user."))
    chunks = await raw_chunks(Agent(model_name=model), user_thread())
    assert chunks
    for chunk in chunks:
        assert not isinstance(chunk, ExecutionEvent)
        assert chunk.object == "chat.completion.chunk"
        assert chunk["object"] == "chat.completion.chunk"
        assert isinstance(chunk.id, str) and chunk.id
        assert isinstance(chunk.created, int)
        assert chunk.model
        json.loads(json.dumps(chunk))  # a proxy can forward it as is
        sse = serialize_chunk_to_sse(chunk)
        assert sse.startswith("data: {") and sse.endswith("\n\n")
        json.loads(sse[len("data: ") :])
    text = "".join(c for c in map(delta_content, chunks) if c)
    assert text == "Hello there, proxy user."
    # Dict access gives the same values as attribute access.
    with_content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert all(c["choices"][0]["delta"]["content"] == c.choices[0].delta.content for c in with_content)


@BOTH
async def test_raw_usage_on_the_final_chunk(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="a b c", usage={"prompt_tokens": 7, "completion_tokens": 3}))
    chunks = await raw_chunks(Agent(model_name=model), user_thread())
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 10
    assert chunks[-1].usage.prompt_tokens == 7
    assert chunks[-1].usage.completion_tokens == 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


@BOTH
async def test_raw_tools_are_executed_between_turns(env: FakeModelServer, model: str) -> None:
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("lookup", {"key": "color"})]),
        Turn(text="The color is blue."),
    )
    timeline: list[str] = []

    def lookup(key: str) -> str:
        timeline.append("tool")
        return "blue"

    thread = user_thread("What color?")
    agent = Agent(model_name=model, tools=[lookup])
    async for chunk in agent.stream(thread, mode="raw"):
        timeline.append("chunk")
        if chunk.choices and chunk.choices[0].finish_reason:
            timeline.append("finish:" + chunk.choices[0].finish_reason)
        if chunk.choices and chunk.choices[0].delta.tool_calls:
            timeline.append("tool_call_delta")
    first_finish = timeline.index("finish:tool_calls")
    tool_at = timeline.index("tool")
    assert "tool_call_delta" in timeline[:first_finish]
    assert first_finish < tool_at
    assert "finish:stop" in timeline[tool_at:]
    assert timeline.count("tool") == 1
    # Chunks of the second turn arrive after the tool ran.
    assert timeline[tool_at + 1] == "chunk"
    assert [m.role for m in thread.messages] == ["user", "assistant", "tool", "assistant"]
    assert thread.messages[2].content == "blue"
    assert thread.messages[-1].content == "The color is blue."
    assert len(env.requests) == 2


@BOTH
async def test_raw_iteration_limit_ends_with_the_note_chunk(env: FakeModelServer, model: str) -> None:
    env.enqueue(*[Turn(tool_calls=[FakeToolCall("lookup", {"key": str(i)})]) for i in range(2)])

    def lookup(key: str) -> str:
        return key

    thread = user_thread("loop")
    agent = Agent(model_name=model, tools=[lookup], max_tool_iterations=2)
    chunks = await raw_chunks(agent, thread)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls", "tool_calls", "stop"]
    last = chunks[-1]
    assert last.object == "chat.completion.chunk" and last.model == model
    assert last.choices[0].delta.role == "assistant"
    assert delta_content(last) == thread.messages[-1].content
    assert "max_tool_iterations" in delta_content(last)
    assert json.loads(serialize_chunk_to_sse(last)[len("data: "):])["choices"][0]["delta"]["content"]
    assert len(env.requests) == 2


async def test_raw_tool_call_deltas_reassemble(env: FakeModelServer) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("lookup", {"key": "a fairly long key value"})]), Turn(text="ok"))

    def lookup(key: str) -> str:
        return key

    chunks = await raw_chunks(Agent(model_name=OPENAI_MODEL, tools=[lookup]), user_thread())
    pieces = [tc.function.arguments or "" for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert json.loads("".join(pieces)) == {"key": "a fairly long key value"}
    ids = {tc.id for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or []) if tc.id}
    assert len(ids) == 1


async def test_openai_raw_thinking_is_preserved(env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="step by step", text="42"))
    chunks = await raw_chunks(Agent(model_name="o1-preview"), user_thread())
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)
    assert reasoning == "step by step"
    assert all(c.choices[0].delta.thinking is None for c in chunks if c.choices)


async def test_anthropic_raw_thinking_is_exposed(env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="careful now", text="42"))
    chunks = await raw_chunks(Agent(model_name=ANTHROPIC_MODEL, reasoning="low"), user_thread())
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)
    assert reasoning == "careful now"
    assert "".join(c for c in map(delta_content, chunks) if c) == "42"


async def test_openai_alias_mode(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="aliased"))
    chunks = await raw_chunks(Agent(model_name=OPENAI_MODEL), user_thread(), mode="openai")
    assert "".join(c for c in map(delta_content, chunks) if c) == "aliased"
    assert all(c.object == "chat.completion.chunk" for c in chunks)


async def test_stream_keyword_is_a_synonym_of_mode(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="raw by keyword"), Turn(text="events by keyword"))
    agent = Agent(name="a", model_name=OPENAI_MODEL)
    chunks = [c async for c in agent.stream(user_thread(), stream="raw")]
    assert "".join(delta_content(c) or "" for c in chunks) == "raw by keyword"
    events = [e async for e in agent.stream(user_thread(), stream=True)]
    assert all(isinstance(e, ExecutionEvent) for e in events)
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    with pytest.raises(ConfigurationError):
        agent.stream(user_thread(), mode="raw", stream="events")


async def test_raw_mode_raises_typed_errors(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=401))
    with pytest.raises(AuthenticationError) as info:
        await raw_chunks(Agent(model_name=OPENAI_MODEL), user_thread())
    assert info.value.status_code == 401


async def test_raw_mode_mid_stream_failure_raises_after_chunks(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="one two three four five six", abort_after=3))
    seen: list[Any] = []
    with pytest.raises(ModelConnectionError):
        async for chunk in Agent(model_name=OPENAI_MODEL).stream(user_thread(), mode="raw"):
            seen.append(chunk)
    assert len(seen) == 3


async def test_raw_mode_malformed_chunk_raises(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="a b c", malformed_at=2))
    with pytest.raises(ModelResponseError):
        await raw_chunks(Agent(model_name=OPENAI_MODEL), user_thread())


# -- go(), run() and the stream= parameter ----------------------------------------------------------


@pytest.mark.parametrize("stream", [True, "events"])
async def test_go_stream_events(env: FakeModelServer, stream: Any) -> None:
    env.enqueue(Turn(text="event stream"))
    events = [e async for e in Agent(model_name=OPENAI_MODEL).go(user_thread(), stream=stream)]
    assert all(isinstance(e, ExecutionEvent) for e in events)
    assert "".join(e.data["content_chunk"] for e in events if e.type is EventType.LLM_STREAM_CHUNK) == "event stream"
    assert events[-1].type is EventType.EXECUTION_COMPLETE


async def test_go_stream_raw(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="raw stream"))
    chunks = [c async for c in Agent(model_name=OPENAI_MODEL).go(user_thread(), stream="raw")]
    assert not any(isinstance(c, ExecutionEvent) for c in chunks)
    assert "".join(c for c in map(delta_content, chunks) if c) == "raw stream"


@BOTH
async def test_go_returns_agent_result(env: FakeModelServer, model: str) -> None:
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("lookup", {"key": "k"})], usage={"prompt_tokens": 5, "completion_tokens": 2}),
        Turn(text="Final answer.", usage={"prompt_tokens": 9, "completion_tokens": 2}),
    )

    def lookup(key: str) -> str:
        return "v"

    thread = user_thread()
    result = await Agent(model_name=model, tools=[lookup]).go(thread)
    assert isinstance(result, AgentResult)
    assert result.thread is thread
    assert result.content == "Final answer."
    assert result.output == "Final answer."
    assert [m.role for m in result.new_messages] == ["assistant", "tool", "assistant"]
    assert result.new_messages == thread.messages[1:]
    assert result.messages == result.new_messages
    assert result.usage == {"prompt_tokens": 14, "completion_tokens": 4, "total_tokens": 18}
    assert result.duration_ms > 0


async def test_run_is_an_alias_of_go(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="via run"))
    result = await Agent(model_name=OPENAI_MODEL).run(user_thread())
    assert isinstance(result, AgentResult)
    assert result.content == "via run"


async def test_go_raises_typed_errors(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=401))
    with pytest.raises(AuthenticationError):
        await Agent(model_name=OPENAI_MODEL).go(user_thread())


async def test_raw_mode_failure_keeps_partial_on_thread(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="one two three four five six", abort_after=3))
    thread = user_thread()
    with pytest.raises(ModelConnectionError):
        await raw_chunks(Agent(model_name=OPENAI_MODEL), thread)
    assert thread.messages[-1].role == "assistant"
    assert thread.messages[-1].content == "one two "
    assert thread.messages[-1].interrupted is True


async def test_raw_mode_break_closes_upstream(env: FakeModelServer) -> None:
    from contextlib import aclosing

    env.enqueue(Turn(text=" ".join(f"w{i}" for i in range(200)), delay=0.01))
    thread = user_thread()
    async with aclosing(Agent(model_name=OPENAI_MODEL).stream(thread, mode="raw")) as chunks:
        async for chunk in chunks:
            if delta_content(chunk):
                break
    assert await env.await_disconnect(timeout=2.0)
    assert thread.messages[-1].content == "w0 "
    assert thread.messages[-1].interrupted is True
