"""The LiteLLM fallback, against a stub `litellm` module: the request OpenAIProvider sends, the
chunks parsed alike, the end of stream checked, and LiteLLM's stream closed when we stop."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import ContextLengthError, ModelConnectionError, ModelError
from tyler.providers.base import ModelRequest, ModelSettings, ToolSpec
from tyler.providers.litellm import LiteLLMProvider
from tyler.providers.openai import OpenAIProvider

MODEL = "mistral/mistral-large-latest"


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage}


class _Dumpable:
    """What LiteLLM yields: a pydantic model; only `model_dump` is used."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def model_dump(self, exclude_none: bool = True) -> dict[str, Any]:
        assert exclude_none is False
        return self.data


class _Stream:
    def __init__(self, chunks: list[dict[str, Any]], fail: Exception | None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = False
        self.sent = 0

    def __aiter__(self) -> AsyncIterator[_Dumpable]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[_Dumpable]:
        for chunk in self.chunks:
            self.sent += 1
            yield _Dumpable(chunk)
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


class StubLiteLLM(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("litellm")
        self.__spec__ = importlib.machinery.ModuleSpec("litellm", None)  # find_spec() sees it installed
        self.calls: list[dict[str, Any]] = []
        self.streams: list[_Stream] = []
        self.chunks: list[dict[str, Any]] = []
        self.fail: Exception | None = None

    async def acompletion(self, **kwargs: Any) -> _Stream:
        self.calls.append(kwargs)
        stream = _Stream(list(self.chunks), self.fail)
        self.streams.append(stream)
        return stream


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> StubLiteLLM:
    stub = StubLiteLLM()
    stub.chunks = [_chunk({"role": "assistant", "content": "Hello "}), _chunk({"content": "there"}),
                   _chunk({}, "stop", {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})]
    monkeypatch.setitem(sys.modules, "litellm", stub)
    return stub


def user_thread(text: str = "hi") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


def _request() -> ModelRequest:
    thread = user_thread()
    thread.add_message(Message(role="assistant", content=None, tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]))
    thread.add_message(Message(role="tool", tool_call_id="call_1", name="add", content=None))
    thread.add_message(Message(role="assistant", content=None))
    settings = ModelSettings(temperature=0.2, max_tokens=50, reasoning="low",
                             extra_headers={"X-Run": "r", "X-Both": "run"}, extra_body={"seed": 7, "top_k": 3})
    tools = [ToolSpec("add", "Add.", {"type": "object", "properties": {}})]
    return ModelRequest(model=MODEL, messages=thread.messages, system="Be brief.", tools=tools, settings=settings)


def test_litellm_gets_the_openai_request_body() -> None:
    request = _request()
    provider = LiteLLMProvider(
        MODEL, api_base="http://127.0.0.1:9/v1", api_key="k", headers={"X-Both": "agent", "X-A": "a"}
    )
    kwargs = provider.build_kwargs(request)
    body = OpenAIProvider(base_url="http://unused", model=MODEL).build_body(request)
    assert {k: v for k, v in kwargs.items() if k not in ("api_base", "api_key", "extra_headers")} == body
    assert kwargs["seed"] == 7 and kwargs["top_k"] == 3  # extra_body kept
    assert [m["content"] for m in kwargs["messages"][2:]] == [None, "", ""]  # content=None repaired as OpenAI wants
    assert kwargs["api_base"] == "http://127.0.0.1:9/v1" and kwargs["api_key"] == "k"
    assert kwargs["extra_headers"] == {"X-Both": "run", "X-A": "a", "X-Run": "r"}  # merged, the run's win


async def test_model_names_only_litellm_serves_stream_through_it(litellm: StubLiteLLM) -> None:
    events = [e async for e in Agent(model_name=MODEL).stream(user_thread())]
    assert [e.data["content_chunk"] for e in events if e.type is EventType.LLM_STREAM_CHUNK] == ["Hello ", "there"]
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert events[-1].data["usage"]["total_tokens"] == 5
    assert litellm.calls[0]["model"] == MODEL and litellm.calls[0]["stream"] is True
    assert litellm.streams[0].closed


async def test_raw_mode_passes_litellm_chunks_through(litellm: StubLiteLLM) -> None:
    chunks = [c async for c in Agent(model_name=MODEL).stream(user_thread(), mode="raw")]
    assert [c.choices[0].delta.content for c in chunks] == ["Hello ", "there", None]


async def test_a_stream_without_its_end_fails_and_keeps_the_text(litellm: StubLiteLLM) -> None:
    litellm.chunks = litellm.chunks[:2]  # the connection dropped before the finish reason
    thread = user_thread()
    with pytest.raises(ModelConnectionError, match="ended before"):
        await Agent(model_name=MODEL).go(thread)
    assert (thread.messages[-1].content, thread.messages[-1].interrupted) == ("Hello there", True)


async def test_stopping_closes_litellms_stream(litellm: StubLiteLLM) -> None:
    async with aclosing(Agent(model_name=MODEL).stream(user_thread())) as events:
        async for event in events:
            if event.type is EventType.LLM_STREAM_CHUNK:
                break
    assert litellm.streams[0].sent == 1
    assert litellm.streams[0].closed


async def test_litellm_errors_become_model_errors(litellm: StubLiteLLM) -> None:
    litellm.fail = RuntimeError("upstream said no")
    with pytest.raises(ModelError, match="upstream said no") as info:
        await Agent(model_name=MODEL).go(user_thread())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert litellm.streams[0].closed


async def test_litellms_context_window_error_is_a_context_length_error(litellm: StubLiteLLM) -> None:
    class ContextWindowExceededError(Exception):  # LiteLLM's class, by name: litellm is not installed
        pass

    litellm.chunks = []
    litellm.fail = ContextWindowExceededError("This model's maximum context length is 8192 tokens. However, "
                                              "your messages resulted in 9000 tokens.")
    with pytest.raises(ContextLengthError) as info:
        await Agent(model_name=MODEL, context_strategy="error").go(user_thread())
    assert (info.value.tokens, info.value.limit) == (9000, 8192)
