"""The public API surface: imports, import cost, Agent arguments, the spec's examples as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import tyler
from tyler import Agent, AgentResult, EventType, ExecutionEvent, Message, Thread
from tyler.exceptions import ConfigurationError, ToolError, TylerError
from tyler.testing import FakeModelServer, Turn


def test_public_imports() -> None:
    from tyler import Agent as A
    from tyler import AgentResult as R
    from tyler import EventType as E
    from tyler import ExecutionEvent as X
    from tyler import Message as M
    from tyler import Thread as T
    from tyler.models.execution import AgentResult as R2
    from tyler.models.execution import EventType as E2
    from tyler.models.execution import ExecutionEvent as X2

    assert (A, R, E, X, M, T) == (Agent, AgentResult, EventType, ExecutionEvent, Message, Thread)
    assert (E2, X2, R2) == (E, X, R)
    for name in tyler.__all__:
        assert getattr(tyler, name) is not None, name
    assert isinstance(tyler.__version__, str)


def test_thread_store_is_lazily_importable() -> None:
    store = tyler.ThreadStore
    assert store.__name__ == "ThreadStore"
    with pytest.raises(AttributeError):
        tyler.NoSuchThing  # noqa: B018


def _run_python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_is_light_and_opens_no_socket() -> None:
    code = """
        import json, sys
        events = []
        def hook(name, args):
            if name.startswith("socket.") or name == "subprocess.Popen":
                events.append(name)
        sys.addaudithook(hook)
        import tyler
        from tyler import Agent, Thread, Message, EventType, ExecutionEvent, AgentResult
        from tyler.models.execution import ExecutionEvent, EventType
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"litellm", "httpx", "httpcore", "sqlalchemy",
                                                                  "aiosqlite", "asyncpg", "openai", "anthropic"})
        print(json.dumps({"heavy": heavy, "events": events}))
    """
    result = json.loads(_run_python(code))
    assert result == {"heavy": [], "events": []}


def test_building_an_agent_opens_no_socket() -> None:
    code = """
        import json, sys
        events = []
        sys.addaudithook(lambda name, args: events.append(name) if name.startswith("socket.") else None)
        from tyler import Agent
        def add(a: int, b: int) -> int:
            return a + b
        Agent(name="x", model_name="gpt-4o", purpose="p", tools=[add])
        Agent(model_name="anthropic/claude-3-7-sonnet-20250219")
        print(json.dumps({"events": events, "litellm": "litellm" in sys.modules}))
    """
    assert json.loads(_run_python(code)) == {"events": [], "litellm": False}


def test_agent_defaults_and_repr() -> None:
    agent = Agent(name="helper", model_name="gpt-4o", purpose="To help")
    assert agent.name == "helper"
    assert agent.model_name == "gpt-4o"
    assert agent.purpose == "To help"
    assert agent.tools == []
    assert agent.max_tool_iterations == 10
    assert "helper" in repr(agent)
    assert "To help" in agent.system_prompt


def test_custom_system_prompt() -> None:
    assert Agent(model_name="gpt-4o", system_prompt="Only say yes.").system_prompt == "Only say yes."


def test_base_url_is_an_alias_of_api_base() -> None:
    assert Agent(model_name="gpt-4o", base_url="http://127.0.0.1:9/v1").api_base == "http://127.0.0.1:9/v1"
    same = Agent(model_name="gpt-4o", base_url="http://127.0.0.1:9/v1", api_base="http://127.0.0.1:9/v1")
    assert same.api_base == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tool_iterations": 0},
        {"max_tool_iterations": -1},
        {"max_tool_iterations": 2.5},
        {"temperature": 3},
        {"temperature": -0.1},
        {"reasoning": "extreme"},
        {"stall_timeout": 0},
        {"connect_timeout": -1},
        {"api_base": "http://a/v1", "base_url": "http://b/v1"},
        {"model_name": ""},
        {"model_name": "   "},
        {"temperature": "0.5"},
        {"temperature": float("nan")},
        {"max_tool_iterations": True},
        {"stall_timeout": "10"},
        {"tool_timeout": 0},
        {"tool_timeout": -5},
        {"max_retries": -1},
        {"max_tokens": 0},
        {"max_tokens": "100"},
    ],
)
def test_bad_agent_arguments(kwargs: dict[str, object]) -> None:
    kwargs = {"model_name": "gpt-4o", **kwargs}
    with pytest.raises(ConfigurationError):
        Agent(**kwargs)  # type: ignore[arg-type]


def test_bad_tool_is_a_tool_error() -> None:
    with pytest.raises(ToolError):
        Agent(model_name="gpt-4o", tools=[123])
    assert issubclass(ToolError, TylerError)


def test_agent_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Agent("name", "gpt-4o")  # type: ignore[misc]


async def test_agent_as_async_context_manager(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="hi"))
    thread = Thread()
    thread.add_message(Message(role="user", content="hello"))
    async with Agent(model_name="gpt-4o") as agent:
        result = await agent.go(thread)
    assert result.content == "hi"


# -- the spec's first example, as written (stream chunks printed in order) --------------------------


async def test_spec_event_streaming_example(env: FakeModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    env.enqueue(Turn(text="Once upon a time, a rocket left Earth."))
    agent = Agent(name="streaming-assistant", model_name="gpt-4", purpose="To provide real-time responses")
    thread = Thread()
    message = Message(role="user", content="Tell me a story about space exploration")
    thread.add_message(message)
    print("Assistant: ", end="", flush=True)
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            print(event.data.get("content_chunk", ""), end="", flush=True)
    print()
    assert capsys.readouterr().out == "Assistant: Once upon a time, a rocket left Earth.\n"
    assert env.requests[0].body["model"] == "gpt-4"
    assert env.requests[0].path == "/v1/chat/completions"


async def test_spec_understanding_events_example(env: FakeModelServer) -> None:
    from tyler.testing import FakeToolCall

    def get_time(city: str) -> str:
        return f"noon in {city}"

    env.enqueue(Turn(tool_calls=[FakeToolCall("get_time", {"city": "Rome"})]), Turn(text="It is noon."))
    agent = Agent(model_name="gpt-4", tools=[get_time])
    thread = Thread()
    thread.add_message(Message(role="user", content="time in Rome?"))
    lines = []
    async for event in agent.stream(thread):
        if event.type == EventType.TOOL_SELECTED:
            lines.append(f"Calling tool: {event.data['tool_name']}")
        elif event.type == EventType.MESSAGE_CREATED:
            msg = event.data["message"]
            if msg.role == "tool":
                lines.append(f"Tool {msg.name} completed")
        elif event.type == EventType.TOOL_RESULT:
            lines.append(f"Result: {event.data['result'][:100]}")
        elif event.type == EventType.EXECUTION_COMPLETE:
            lines.append(f"Complete in {event.data['duration_ms']:.0f}ms!")
    assert lines[:3] == ["Calling tool: get_time", "Result: noon in Rome", "Tool get_time completed"]
    assert lines[3].startswith("Complete in ")


async def test_spec_token_counter_len_of_data(env: FakeModelServer) -> None:
    """The spec computes `len(update.data) // 4`: data must be a sized mapping."""
    env.enqueue(Turn(text="a b c"))
    thread = Thread()
    thread.add_message(Message(role="user", content="hi"))
    async for update in Agent(model_name="gpt-4").stream(thread):
        if update.type == EventType.LLM_STREAM_CHUNK:
            assert len(update.data) >= 1
