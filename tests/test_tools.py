"""Tools: schemas from callables and dicts, execution through real model turns, failures, progress."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from tyler import Agent, EventType, ExecutionEvent, Message, Thread, ToolContext, tool
from tyler.exceptions import ConfigurationError, ToolError
from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.tools import tool_from_callable, tool_from_dict

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])


def user_thread(text: str = "Please use the tools") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def collect(agent: Agent, thread: Thread) -> list[ExecutionEvent]:
    return [event async for event in agent.stream(thread)]


def of(events: list[ExecutionEvent], type_: EventType) -> list[ExecutionEvent]:
    return [e for e in events if e.type is type_]


def tool_messages_sent(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool results in a request body, as {"id", "content", "is_error"} (OpenAI or Anthropic)."""
    out = []
    for m in body["messages"]:
        if m["role"] == "tool":
            out.append({"id": m["tool_call_id"], "content": m["content"], "is_error": None})
        elif isinstance(m.get("content"), list):
            for block in m["content"]:
                if block.get("type") == "tool_result":
                    out.append(
                        {"id": block["tool_use_id"], "content": block["content"], "is_error": block.get("is_error")}
                    )
    return out


# -- schemas -----------------------------------------------------------------------------------------


def search(
    query: str,
    limit: int = 5,
    tags: list[str] | None = None,
    mode: Literal["fast", "deep"] = "fast",
    ctx: ToolContext | None = None,
) -> str:
    """Search the web.

    Longer explanation of the search.

    Args:
        query: what to search for
        limit: how many results
            at most.
        tags: optional tags
        mode: speed or depth
    Returns:
        the results as text
    """
    return query


SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "what to search for"},
        "limit": {"type": "integer", "default": 5, "description": "how many results at most."},
        "tags": {
            "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
            "default": None,
            "description": "optional tags",
        },
        "mode": {"type": "string", "enum": ["fast", "deep"], "default": "fast", "description": "speed or depth"},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def test_schema_from_type_hints_and_docstring() -> None:
    t = tool_from_callable(search)
    assert t.name == "search"
    assert t.parameters == SEARCH_SCHEMA
    assert "ctx" not in t.parameters["properties"]  # ToolContext is injected, not shown to the model


def test_description_is_the_docstring_without_sections() -> None:
    t = tool_from_callable(search)
    assert t.description == "Search the web.\n\nLonger explanation of the search."


def test_description_without_args_section() -> None:
    def ping() -> str:
        """Check that the service is up.

        Returns:
            "pong"
        """
        return "pong"

    assert tool_from_callable(ping).description == "Check that the service is up."


def test_optional_tool_context_is_injected_not_shown() -> None:
    def a(x: int, ctx: Optional[ToolContext] = None) -> str:  # noqa: UP045 - the spelling under test
        return ""

    def b(ctx: ToolContext, x: int) -> str:
        return ""

    for fn in (a, b):
        t = tool_from_callable(fn)
        assert t.context_param == "ctx"
        assert list(t.parameters["properties"]) == ["x"]
        assert t.parameters["required"] == ["x"]


def test_sphinx_docstring_params() -> None:
    def area(width: float, height: float) -> float:
        """Area of a rectangle.

        :param width: the width in meters
        :param height: the height in meters
        """
        return width * height

    t = tool_from_callable(area)
    assert t.description == "Area of a rectangle."
    assert t.parameters["properties"]["width"] == {"type": "number", "description": "the width in meters"}
    assert t.parameters["required"] == ["width", "height"]


def test_no_docstring_and_no_params() -> None:
    def now():  # type: ignore[no-untyped-def]
        return "noon"

    t = tool_from_callable(now)
    assert t.description == "now"
    assert t.parameters["type"] == "object"
    assert t.parameters["properties"] == {}


class Point(BaseModel):
    x: int
    y: int


def test_pydantic_model_argument() -> None:
    def plot(point: Point) -> str:
        """Plot a point."""
        return f"{point.x},{point.y}"

    t = tool_from_callable(plot)
    assert t.parameters["properties"]["point"]["$ref"].endswith("Point")
    args = t.parse_arguments('{"point": {"x": 1, "y": "2"}}')
    assert args["point"] == Point(x=1, y=2)


def test_tool_decorator_overrides() -> None:
    @tool(name="web-search", description="Searches.", timeout=3)
    def anything(q: str) -> str:
        return q

    assert anything.name == "web-search"
    assert anything.description == "Searches."
    assert anything.timeout == 3
    assert anything.definition == {
        "type": "function",
        "function": {"name": "web-search", "description": "Searches.", "parameters": anything.parameters},
    }


def test_dict_tool_keeps_its_schema() -> None:
    params = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    t = tool_from_dict(
        {
            "definition": {
                "type": "function",
                "function": {"name": "double", "description": "Double n.", "parameters": params},
            },
            "implementation": lambda n: n * 2,
            "timeout": 2,
        }
    )
    assert (t.name, t.description, t.parameters, t.timeout) == ("double", "Double n.", params, 2)


@pytest.mark.parametrize(
    "bad",
    [
        42,
        {"definition": {"type": "function", "function": {"name": "x"}}},
        {"definition": {"type": "function", "function": {"description": "no name"}}, "implementation": print},
        {"definition": {"type": "function", "function": {"name": "x"}}, "implementation": "not callable"},
        {"definition": {"type": "function", "function": {"name": "has space"}}, "implementation": print},
    ],
)
def test_bad_tools_are_rejected(bad: Any) -> None:
    with pytest.raises(ToolError):
        Agent(model_name=OPENAI_MODEL, tools=[bad])


def test_duplicate_tool_names_are_rejected() -> None:
    def a() -> str:
        return ""

    with pytest.raises(ConfigurationError, match="'a'"):
        Agent(model_name=OPENAI_MODEL, tools=[a, tool(name="a")(lambda: "")])


def test_tool_timeout_must_be_positive() -> None:
    with pytest.raises(ToolError):
        tool(timeout=0)(lambda: "")


@BOTH
async def test_tools_are_offered_to_the_model(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="no tools needed"))
    await collect(Agent(model_name=model, tools=[search]), user_thread())
    tools = env.requests[0].body["tools"]
    if model == OPENAI_MODEL:
        assert tools == [
            {
                "type": "function",
                "function": {
                    "name": "search",
                    "description": "Search the web.\n\nLonger explanation of the search.",
                    "parameters": SEARCH_SCHEMA,
                },
            }
        ]
    else:
        assert tools == [
            {
                "name": "search",
                "description": "Search the web.\n\nLonger explanation of the search.",
                "input_schema": SEARCH_SCHEMA,
            }
        ]


async def test_no_tools_key_without_tools(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="hi"))
    await collect(Agent(model_name=OPENAI_MODEL), user_thread())
    assert "tools" not in env.requests[0].body


# -- execution ---------------------------------------------------------------------------------------


@BOTH
async def test_sync_async_and_dict_tools_run(env: FakeModelServer, model: str) -> None:
    loop_thread = threading.get_ident()
    where: dict[str, int] = {}

    def add(a: int, b: int) -> int:
        """Add."""
        where["add"] = threading.get_ident()
        return a + b

    async def shout(text: str) -> str:
        where["shout"] = threading.get_ident()
        return text.upper()

    def lookup_impl(key: str) -> dict[str, Any]:
        return {"key": key, "found": True}

    lookup = {
        "definition": {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up a key.",
                "parameters": {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]},
            },
        },
        "implementation": lookup_impl,
    }
    env.enqueue(
        Turn(
            tool_calls=[
                FakeToolCall("add", {"a": 2, "b": "3"}),
                FakeToolCall("shout", {"text": "hey"}),
                FakeToolCall("lookup", {"key": "k1"}),
            ]
        ),
        Turn(text="All done."),
    )
    thread = user_thread()
    events = await collect(Agent(model_name=model, tools=[add, shout, lookup]), thread)
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert of(events, EventType.TOOL_ERROR) == []
    results = {e.data["tool_name"]: e.data["result"] for e in of(events, EventType.TOOL_RESULT)}
    assert results == {"add": "5", "shout": "HEY", "lookup": '{"key": "k1", "found": true}'}
    assert where["shout"] == loop_thread
    assert where["add"] != loop_thread  # sync tools run in a worker thread, never blocking the loop
    assert [m.content for m in thread.messages if m.role == "tool"] == ["5", "HEY", '{"key": "k1", "found": true}']
    sent = tool_messages_sent(env.requests[1].body)
    assert [s["content"] for s in sent] == ["5", "HEY", '{"key": "k1", "found": true}']


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        (["x", 1], '["x", 1]'),
        (3.5, "3.5"),
        (("content", ["file.txt"]), "content"),
    ],
)
async def test_tool_return_values_become_text(env: FakeModelServer, value: Any, text: str) -> None:
    def give() -> Any:
        return value

    env.enqueue(Turn(tool_calls=[FakeToolCall("give", {})]), Turn(text="ok"))
    thread = user_thread()
    await Agent(model_name=OPENAI_MODEL, tools=[give]).go(thread)
    assert thread.messages[2].content == text


async def test_tool_calls_of_one_turn_run_concurrently_async(env: FakeModelServer) -> None:
    # Each tool waits for the other to have started: run one after the other, this would time out.
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def meet(me: str, other: str) -> str:
        started[me].set()
        await asyncio.wait_for(started[other].wait(), 3)
        return f"{me} met {other}"

    env.enqueue(
        Turn(
            tool_calls=[
                FakeToolCall("meet", {"me": "a", "other": "b"}),
                FakeToolCall("meet", {"me": "b", "other": "a"}),
            ]
        ),
        Turn(text="ok"),
    )
    thread = user_thread()
    events = await collect(Agent(model_name=OPENAI_MODEL, tools=[meet]), thread)
    assert of(events, EventType.TOOL_ERROR) == []
    assert [m.content for m in thread.messages if m.role == "tool"] == ["a met b", "b met a"]


async def test_tool_calls_of_one_turn_run_concurrently_sync(env: FakeModelServer) -> None:
    barrier = threading.Barrier(2, timeout=3)

    def rendezvous(n: int) -> str:
        barrier.wait()  # raises BrokenBarrierError unless both calls run at the same time
        return f"ok {n}"

    env.enqueue(
        Turn(tool_calls=[FakeToolCall("rendezvous", {"n": 1}), FakeToolCall("rendezvous", {"n": 2})]), Turn(text="ok")
    )
    thread = user_thread()
    events = await collect(Agent(model_name=OPENAI_MODEL, tools=[rendezvous]), thread)
    assert of(events, EventType.TOOL_ERROR) == []
    assert [m.content for m in thread.messages if m.role == "tool"] == ["ok 1", "ok 2"]


@BOTH
async def test_results_stream_as_they_finish_but_thread_keeps_model_order(env: FakeModelServer, model: str) -> None:
    fast_done = asyncio.Event()

    async def slow() -> str:
        await asyncio.wait_for(fast_done.wait(), 3)
        return "slow result"

    async def fast() -> str:
        fast_done.set()
        return "fast result"

    env.enqueue(Turn(tool_calls=[FakeToolCall("slow", {}), FakeToolCall("fast", {})]), Turn(text="ok"))
    thread = user_thread()
    events = await collect(Agent(model_name=model, tools=[slow, fast]), thread)
    assert [e.data["tool_name"] for e in of(events, EventType.TOOL_RESULT)] == ["fast", "slow"]
    created = [e.data["message"] for e in of(events, EventType.MESSAGE_CREATED) if e.data["message"].role == "tool"]
    assert [m.name for m in created] == ["slow", "fast"]
    assert [m.name for m in thread.messages if m.role == "tool"] == ["slow", "fast"]
    assistant = thread.messages[1]
    assert [m.tool_call_id for m in created] == [c["id"] for c in assistant.tool_calls]
    sent = tool_messages_sent(env.requests[1].body)
    assert [s["content"] for s in sent] == ["slow result", "fast result"]


# -- tool failures: reported to the model, the run goes on -----------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def run_failing_call(
    env: FakeModelServer, model: str, call: FakeToolCall, tools: list[Any], **agent_kwargs: Any
) -> tuple[list[ExecutionEvent], Thread]:
    env.enqueue(Turn(tool_calls=[call]), Turn(text="I see the error."))
    thread = user_thread()
    events = await collect(Agent(model_name=model, tools=tools, **agent_kwargs), thread)
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert thread.messages[-1].content == "I see the error."
    assert len(env.requests) == 2
    return events, thread


def check_error_reported(
    env: FakeModelServer, events: list[ExecutionEvent], thread: Thread, error_type: str, needle: str
) -> None:
    errors = of(events, EventType.TOOL_ERROR)
    assert len(errors) == 1
    assert errors[0].data["error_type"] == error_type
    assert needle in errors[0].data["error"]
    assert of(events, EventType.TOOL_RESULT) == []
    tool_msg = thread.messages[2]
    assert tool_msg.role == "tool"
    assert tool_msg.attributes.get("error") is True
    assert needle in tool_msg.content
    assert tool_msg.tool_call_id == thread.messages[1].tool_calls[0]["id"] == errors[0].data["tool_call_id"]
    sent = tool_messages_sent(env.requests[1].body)
    assert len(sent) == 1
    assert sent[0]["id"] == tool_msg.tool_call_id
    assert needle in sent[0]["content"]
    if env.requests[1].api == "anthropic":
        assert sent[0]["is_error"] is True


@BOTH
async def test_invalid_json_arguments(env: FakeModelServer, model: str) -> None:
    calls: list[Any] = []

    def spy(a: int) -> int:
        calls.append(a)
        return a

    events, thread = await run_failing_call(env, model, FakeToolCall("spy", '{"a": 1,'), [spy])
    check_error_reported(env, events, thread, "ToolArgumentsError", "JSON")
    assert calls == []


@BOTH
async def test_arguments_failing_validation(env: FakeModelServer, model: str) -> None:
    events, thread = await run_failing_call(env, model, FakeToolCall("add", {"a": "one", "b": 2}), [add])
    check_error_reported(env, events, thread, "ToolArgumentsError", "a:")


async def test_missing_required_argument(env: FakeModelServer) -> None:
    events, thread = await run_failing_call(env, OPENAI_MODEL, FakeToolCall("add", {"a": 1}), [add])
    check_error_reported(env, events, thread, "ToolArgumentsError", "b")


async def test_dict_tool_arguments_are_checked_against_its_schema(env: FakeModelServer) -> None:
    calls: list[Any] = []
    spec = {
        "definition": {
            "type": "function",
            "function": {
                "name": "setn",
                "description": "Set n.",
                "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            },
        },
        "implementation": calls.append,
    }
    events, thread = await run_failing_call(env, OPENAI_MODEL, FakeToolCall("setn", {"n": "NaN"}), [spec])
    check_error_reported(env, events, thread, "ToolArgumentsError", "n")
    assert calls == []


@BOTH
async def test_unknown_tool_name(env: FakeModelServer, model: str) -> None:
    events, thread = await run_failing_call(env, model, FakeToolCall("no_such_tool", {}), [add])
    check_error_reported(env, events, thread, "ToolArgumentsError", "no_such_tool")
    assert "add" in of(events, EventType.TOOL_ERROR)[0].data["error"]  # lists what exists


@BOTH
async def test_tool_raising(env: FakeModelServer, model: str) -> None:
    def explode(reason: str) -> str:
        raise ValueError(f"boom: {reason}")

    events, thread = await run_failing_call(env, model, FakeToolCall("explode", {"reason": "bad"}), [explode])
    check_error_reported(env, events, thread, "ValueError", "boom: bad")


async def test_tool_raising_cancelled_error_does_not_end_the_run(env: FakeModelServer) -> None:
    # Some libraries leak CancelledError out of their own cancel scopes; the run was not cancelled.
    async def leaky() -> str:
        raise asyncio.CancelledError()

    events, thread = await run_failing_call(env, OPENAI_MODEL, FakeToolCall("leaky", {}), [leaky])
    check_error_reported(env, events, thread, "CancelledError", "cancelled")
    assert [e.type for e in events].count(EventType.EXECUTION_COMPLETE) == 1


@pytest.mark.parametrize("how", ["tool", "agent", "dict"])
async def test_tool_timeout(env: FakeModelServer, how: str) -> None:
    cancelled: list[bool] = []

    async def sleepy() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "woke"

    kwargs: dict[str, Any] = {}
    if how == "tool":
        tools: list[Any] = [tool(timeout=0.2)(sleepy)]
    elif how == "agent":
        tools, kwargs = [sleepy], {"tool_timeout": 0.2}
    else:
        tools = [
            {
                "definition": {
                    "type": "function",
                    "function": {"name": "sleepy", "parameters": {"type": "object", "properties": {}}},
                },
                "implementation": sleepy,
                "timeout": 0.2,
            }
        ]
    events, thread = await run_failing_call(env, OPENAI_MODEL, FakeToolCall("sleepy", {}), tools, **kwargs)
    check_error_reported(env, events, thread, "TimeoutError", "timed out")
    assert cancelled == [True]


async def test_one_failing_tool_does_not_affect_the_others(env: FakeModelServer) -> None:
    def explode() -> str:
        raise RuntimeError("nope")

    env.enqueue(Turn(tool_calls=[FakeToolCall("explode", {}), FakeToolCall("add", {"a": 1, "b": 1})]), Turn(text="ok"))
    thread = user_thread()
    events = await collect(Agent(model_name=OPENAI_MODEL, tools=[explode, add]), thread)
    assert [e.data["tool_name"] for e in of(events, EventType.TOOL_ERROR)] == ["explode"]
    assert [e.data["result"] for e in of(events, EventType.TOOL_RESULT)] == ["2"]
    assert [m.content for m in thread.messages if m.role == "tool"] == ["Error: RuntimeError: nope", "2"]


# -- iteration limit ---------------------------------------------------------------------------------


@BOTH
async def test_max_tool_iterations(env: FakeModelServer, model: str) -> None:
    env.set_responder(lambda request: Turn(tool_calls=[FakeToolCall("add", {"a": 1, "b": 2})]))
    thread = user_thread()
    events = await collect(Agent(model_name=model, tools=[add], max_tool_iterations=2), thread)
    types = [e.type for e in events]
    assert types.count(EventType.ITERATION_LIMIT) == 1
    limit_at = types.index(EventType.ITERATION_LIMIT)
    assert types[limit_at:] == [EventType.ITERATION_LIMIT, EventType.MESSAGE_CREATED, EventType.EXECUTION_COMPLETE]
    assert types.count(EventType.EXECUTION_COMPLETE) == 1
    assert EventType.EXECUTION_ERROR not in types
    assert events[limit_at].data["iterations_used"] == 2
    assert types.count(EventType.ITERATION_START) == 2
    assert len(env.requests) == 2
    assert types.count(EventType.TOOL_RESULT) == 2
    # Every tool call got its answer before the run stopped.
    assert [m.role for m in thread.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert thread.messages[-1].attributes.get("iteration_limit") is True


async def test_iteration_limit_with_go(env: FakeModelServer) -> None:
    env.set_responder(lambda request: Turn(tool_calls=[FakeToolCall("add", {"a": 1, "b": 2})]))
    result = await Agent(model_name=OPENAI_MODEL, tools=[add], max_tool_iterations=1).go(user_thread())
    assert "max_tool_iterations" in (result.content or "")
    assert len(env.requests) == 1


async def test_max_tool_iterations_one_without_tool_calls(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="direct answer"))
    events = await collect(Agent(model_name=OPENAI_MODEL, tools=[add], max_tool_iterations=1), user_thread())
    assert EventType.ITERATION_LIMIT not in [e.type for e in events]
    assert events[-1].type is EventType.EXECUTION_COMPLETE


# -- progress and context ----------------------------------------------------------------------------


@BOTH
async def test_report_progress_emits_tool_progress(env: FakeModelServer, model: str) -> None:
    seen_ctx: list[ToolContext] = []

    async def crunch(items: int, ctx: ToolContext) -> str:
        """Crunch items."""
        seen_ctx.append(ctx)
        for i in range(1, items + 1):
            await ctx.report_progress(i, items, f"item {i}")
        return "crunched"

    env.enqueue(Turn(tool_calls=[FakeToolCall("crunch", {"items": 3})]), Turn(text="ok"))
    thread = user_thread()
    events = await collect(Agent(model_name=model, tools=[crunch]), thread)
    assert (
        "ctx"
        not in env.requests[0]
        .body["tools"][0]
        .get("function", env.requests[0].body["tools"][0])
        .get("parameters", env.requests[0].body["tools"][0].get("input_schema"))["properties"]
    )
    progress = of(events, EventType.TOOL_PROGRESS)
    assert [(e.data["progress"], e.data["total"], e.data["message"]) for e in progress] == [
        (1, 3, "item 1"),
        (2, 3, "item 2"),
        (3, 3, "item 3"),
    ]
    call_id = thread.messages[1].tool_calls[0]["id"]
    assert {e.data["tool_call_id"] for e in progress} == {call_id}
    assert {e.data["tool_name"] for e in progress} == {"crunch"}
    types = [e.type for e in events]
    executing = types.index(EventType.TOOL_EXECUTING)
    result = types.index(EventType.TOOL_RESULT)
    assert all(executing < events.index(e) < result for e in progress)
    ctx = seen_ctx[0]
    assert ctx.tool_name == "crunch"
    assert ctx.tool_call_id == call_id
    assert ctx.thread is thread


async def test_report_progress_in_go_and_raw_is_harmless(env: FakeModelServer) -> None:
    async def crunch(ctx: ToolContext) -> str:
        for i in range(100):  # more than any internal buffer
            await ctx.report_progress(i, 100)
        return "done"

    env.enqueue(
        Turn(tool_calls=[FakeToolCall("crunch", {})]),
        Turn(text="ok"),
        Turn(tool_calls=[FakeToolCall("crunch", {})]),
        Turn(text="ok"),
    )
    agent = Agent(model_name=OPENAI_MODEL, tools=[crunch])
    thread = user_thread()
    assert (await agent.go(thread)).content == "ok"
    assert thread.messages[2].content == "done"
    thread = user_thread()
    chunks = [c async for c in agent.stream(thread, mode="raw")]
    assert not any(isinstance(c, ExecutionEvent) for c in chunks)
    assert thread.messages[2].content == "done"


async def test_many_progress_reports_with_a_slow_consumer(env: FakeModelServer) -> None:
    async def crunch(ctx: ToolContext) -> str:
        for i in range(200):
            await ctx.report_progress(i)
        return "done"

    env.enqueue(Turn(tool_calls=[FakeToolCall("crunch", {})]), Turn(text="ok"))
    progress = 0
    async for event in Agent(model_name=OPENAI_MODEL, tools=[crunch]).stream(user_thread()):
        if event.type is EventType.TOOL_PROGRESS:
            progress += 1
            await asyncio.sleep(0)
    assert progress == 200


def test_tool_definition_json_is_serializable() -> None:
    json.dumps(tool_from_callable(search).definition)


def test_dict_tool_name_reads_both_definition_shapes() -> None:
    from tyler.tools import dict_tool_name, tool_from_dict

    wrapped = {"definition": {"type": "function", "function": {"name": "wrapped", "parameters": {}}},
               "implementation": lambda: None}
    bare = {"definition": {"name": "bare", "parameters": {}}, "implementation": lambda: None}
    assert [dict_tool_name(wrapped), dict_tool_name(bare)] == ["wrapped", "bare"]
    assert [tool_from_dict(wrapped).name, tool_from_dict(bare).name] == ["wrapped", "bare"]  # the same reading


def test_a_tool_dicts_definition_is_read_in_tools_py_only() -> None:
    """One accessor (`dict_tool_name`, `tool_from_dict`): the `["definition"]["function"]` path is
    not spelled out again elsewhere, where a second reading could drift from the first."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    reading = re.compile(r"""\[\s*["']definition["']\s*\]|\.get\(\s*["']definition["']""")
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py")) if path != src / "tyler" / "tools.py"
        for n, line in enumerate(path.read_text().splitlines(), 1) if reading.search(line)
    ]
    assert offenders == []


def test_annotated_field_constraints_reach_the_schema_and_the_checks() -> None:
    """`Annotated[int, Field(ge=..., description=...)]` is kept (lye's tools declare their
    limits that way); a docstring's Args entry still wins for the description."""
    from tyler.tools import ToolArgumentsError

    def pick(
        count: Annotated[int, Field(ge=1, le=5, description="How many.")] = 2,
        label: Annotated[str | None, Field(min_length=1, description="Overridden.")] = None,
    ) -> str:
        """Pick some.

        Args:
            label: What to call them.
        """
        return ""

    t = tool_from_callable(pick)
    count, label = t.parameters["properties"]["count"], t.parameters["properties"]["label"]
    assert (count["minimum"], count["maximum"], count["description"], count["default"]) == (1, 5, "How many.", 2)
    assert label["description"] == "What to call them."
    assert label["anyOf"][0] == {"type": "string", "minLength": 1}
    with pytest.raises(ToolArgumentsError, match="count"):
        t.parse_arguments({"count": 9})
