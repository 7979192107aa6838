"""One Agent, many concurrent runs: each run keeps its own state (no cross-talk)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, RecordedRequest, Turn
from tyler.testing.server import last_user_text

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])


def user_thread(text: str) -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


def tool_result_text(body: dict[str, Any]) -> str | None:
    """The last tool result in an OpenAI or Anthropic request, if the last message is one."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return last["content"]
    if isinstance(last.get("content"), list):
        for block in last["content"]:
            if block.get("type") == "tool_result":
                return block["content"]
    return None


async def collect_text(agent: Agent, thread: Thread) -> str:
    parts = []
    async for event in agent.stream(thread):
        if event.type is EventType.LLM_STREAM_CHUNK:
            parts.append(event.data["content_chunk"])
        elif event.type is EventType.EXECUTION_ERROR:
            raise AssertionError(event.data["message"])
    return "".join(parts)


@BOTH
async def test_twenty_concurrent_streams_get_their_own_replies(env: FakeModelServer, model: str) -> None:
    def respond(request: RecordedRequest) -> Turn:
        question = last_user_text(request.body)
        return Turn(text=f"Answer to {question} : the number is {question}", delay=0.002)

    env.set_responder(respond)
    agent = Agent(model_name=model)
    threads = [user_thread(f"q{i}") for i in range(20)]
    texts = await asyncio.gather(*(collect_text(agent, t) for t in threads))
    for i, (text, thread) in enumerate(zip(texts, threads, strict=True)):
        expected = f"Answer to q{i} : the number is q{i}"
        assert text == expected
        assert [m.role for m in thread.messages] == ["user", "assistant"]
        assert thread.messages[-1].content == expected
    assert len(env.requests) == 20
    assert len({t.messages[-1].id for t in threads}) == 20


async def test_concurrent_runs_with_tools_do_not_mix(env: FakeModelServer) -> None:
    def respond(request: RecordedRequest) -> Turn:
        result = tool_result_text(request.body)
        if result is not None:
            return Turn(text=f"tool said {result}", delay=0.001)
        question = last_user_text(request.body)
        return Turn(tool_calls=[FakeToolCall("echo", {"value": question})], delay=0.001)

    async def echo(value: str) -> str:
        await asyncio.sleep(0.01)
        return f"echo:{value}"

    env.set_responder(respond)
    agent = Agent(model_name=OPENAI_MODEL, tools=[echo])
    threads = [user_thread(f"item-{i}") for i in range(20)]
    results = await asyncio.gather(*(agent.go(t) for t in threads))
    for i, (result, thread) in enumerate(zip(results, threads, strict=True)):
        assert result.content == f"tool said echo:item-{i}"
        assert result.thread is thread
        assert [m.role for m in thread.messages] == ["user", "assistant", "tool", "assistant"]
        assert thread.messages[2].content == f"echo:item-{i}"
        assert thread.messages[2].tool_call_id == thread.messages[1].tool_calls[0]["id"]
    assert len(env.requests) == 40


async def test_mixed_modes_and_providers_concurrently(env: FakeModelServer) -> None:
    def respond(request: RecordedRequest) -> Turn:
        return Turn(text=f"reply {last_user_text(request.body)}", delay=0.002)

    env.set_responder(respond)
    openai_agent = Agent(model_name=OPENAI_MODEL)
    anthropic_agent = Agent(model_name=ANTHROPIC_MODEL)

    async def raw_text(agent: Agent, thread: Thread) -> str:
        out = []
        async for chunk in agent.stream(thread, mode="raw"):
            if chunk.choices and chunk.choices[0].delta.content:
                out.append(chunk.choices[0].delta.content)
        return "".join(out)

    jobs = []
    for i in range(12):
        agent = openai_agent if i % 2 else anthropic_agent
        thread = user_thread(f"m{i}")
        jobs.append(raw_text(agent, thread) if i % 3 else collect_text(agent, thread))
    texts = await asyncio.gather(*jobs)
    assert texts == [f"reply m{i}" for i in range(12)]
