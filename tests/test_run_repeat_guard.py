"""The repeat-call guard: a model that calls the same tool with the same arguments again.

Small local models (Qwen2.5-Coder 0.5B/1.5B, measured) call the tool again after its result
instead of answering; the scripted model here does exactly that, over real HTTP.
"""

from __future__ import annotations

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import ConfigurationError
from tyler.providers import resolve_provider
from tyler.providers.openai import OpenAIProvider
from tyler.testing import FakeModelServer, FakeToolCall, Turn


def _thread() -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content="What files are here?"))
    return thread


class _Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def files_list(self, path: str) -> str:
        """List the files of a folder.

        Args:
            path: the folder
        """
        self.calls.append(path)
        return "README.md\nmain.py"


def _agent(counter: _Counter, **kwargs: object) -> Agent:
    return Agent(model_name="gpt-4o", tools=[counter.files_list], **kwargs)  # type: ignore[arg-type]


async def test_an_identical_repeat_is_refused_and_the_next_turn_has_no_tools(env: FakeModelServer) -> None:
    counter = _Counter()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),  # the loop the guard stops
        Turn(text="README.md and main.py."),
    )
    thread = _thread()
    events = [e async for e in _agent(counter, refuse_repeated_tool_calls=True).stream(thread)]
    assert counter.calls == ["."]  # run once, not twice
    errors = [e for e in events if e.type is EventType.TOOL_ERROR]
    assert [e.data["error_type"] for e in errors] == ["RepeatedToolCall"]
    assert "already called" in errors[0].data["error"]
    bodies = [r.body for r in env.requests]
    assert len(bodies) == 3
    assert [("tools" in b) for b in bodies] == [True, True, False]  # tools withheld after the refusal
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert thread.messages[-1].content == "README.md and main.py."
    # Every call on the thread has its answer, so the thread can be continued.
    answered = {m.tool_call_id for m in thread.messages if m.role == "tool"}
    asked = {c["id"] for m in thread.messages for c in (m.tool_calls or [])}
    assert asked == answered and len(asked) == 2


async def test_different_arguments_are_not_repeats(env: FakeModelServer) -> None:
    counter = _Counter()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "docs"})]),
        Turn(text="done"),
    )
    events = [e async for e in _agent(counter, refuse_repeated_tool_calls=True).stream(_thread())]
    assert counter.calls == [".", "docs"]
    assert not [e for e in events if e.type is EventType.TOOL_ERROR]
    assert all("tools" in r.body for r in env.requests)


async def test_hosted_models_run_repeats_by_default(env: FakeModelServer) -> None:
    counter = _Counter()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(text="done"),
    )
    result = await _agent(counter).go(_thread())
    assert counter.calls == [".", "."]
    assert result.content == "done"


class _LoopingProvider(OpenAIProvider):
    """A provider that declares the need, as the embedded local model does."""

    refuses_repeated_tool_calls = True


async def test_a_provider_that_declares_the_need_turns_the_guard_on(env: FakeModelServer) -> None:
    counter = _Counter()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(text="done"),
    )
    provider = _LoopingProvider(base_url=env.env()["OPENAI_BASE_URL"], model="fake", api_key="k")
    agent = Agent(model_name="fake", tools=[counter.files_list], provider=provider)
    result = await agent.go(_thread())
    assert counter.calls == ["."]
    assert result.content == "done"
    # ... and the user can still turn it off.
    counter.calls.clear()
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(tool_calls=[FakeToolCall("files_list", {"path": "."})]),
        Turn(text="done"),
    )
    agent = Agent(model_name="fake", tools=[counter.files_list], provider=provider, refuse_repeated_tool_calls=False)
    await agent.go(_thread())
    assert counter.calls == [".", "."]


def test_the_embedded_local_model_declares_it_and_bad_values_are_refused() -> None:
    assert getattr(resolve_provider("local/qwen"), "refuses_repeated_tool_calls", False) is True
    assert not getattr(resolve_provider("gpt-4o", api_key="k"), "refuses_repeated_tool_calls", False)
    with pytest.raises(ConfigurationError, match="refuse_repeated_tool_calls"):
        Agent(model_name="gpt-4o", refuse_repeated_tool_calls="yes")  # type: ignore[arg-type]


async def test_after_a_turn_whose_calls_all_failed_the_next_turn_has_no_tools(env: FakeModelServer) -> None:
    def read(path: str) -> str:
        """Read a file.

        Args:
            path: the file
        """
        raise FileNotFoundError(path)

    env.enqueue(
        Turn(tool_calls=[FakeToolCall("read", {"path": "C:/guess.txt"})]),
        Turn(text="84"),
    )
    result = await Agent(model_name="gpt-4o", tools=[read], refuse_repeated_tool_calls=True).go(_thread())
    assert result.content == "84"
    assert [("tools" in r.body) for r in env.requests] == [True, False]
    # Without the guard the model keeps its tools after a failure.
    env.enqueue(Turn(tool_calls=[FakeToolCall("read", {"path": "x"})]), Turn(text="ok"))
    await Agent(model_name="gpt-4o", tools=[read]).go(_thread())
    assert [("tools" in r.body) for r in env.requests[2:]] == [True, True]
