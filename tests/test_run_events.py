"""Events mode over real HTTP to the fake server, in both wire formats (OpenAI and Anthropic)."""

from __future__ import annotations

from typing import Any

import pytest

from tyler import Agent, EventType, ExecutionEvent, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.testing.wire import thinking_signature

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])


def user_thread(text: str = "Hello") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def collect(agent: Agent, thread: Thread, **kwargs: Any) -> list[ExecutionEvent]:
    return [event async for event in agent.stream(thread, **kwargs)]


def of(events: list[ExecutionEvent], type_: EventType) -> list[ExecutionEvent]:
    return [e for e in events if e.type is type_]


def assert_one_terminal(events: list[ExecutionEvent]) -> ExecutionEvent:
    terminal = [e for e in events if e.type in (EventType.EXECUTION_COMPLETE, EventType.EXECUTION_ERROR)]
    assert len(terminal) == 1, [e.type for e in events]
    assert events[-1] is terminal[0]
    return terminal[0]


def shape(events: list[ExecutionEvent]) -> list[str]:
    """Event types with runs of per-chunk events collapsed into one "chunks" entry."""
    chunky = {EventType.LLM_STREAM_CHUNK, EventType.LLM_THINKING_CHUNK, EventType.LLM_TOOL_CALL_CHUNK}
    out: list[str] = []
    for e in events:
        name = "chunks" if e.type in chunky else e.type.value
        if not (name == "chunks" and out and out[-1] == "chunks"):
            out.append(name)
    return out


def get_weather(city: str) -> str:
    """Get the weather of a city.

    Args:
        city: the city name
    """
    return f"Sunny in {city}"


@BOTH
async def test_text_deltas_in_order_equal_final_content(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(chunks=["Once", " upon", " a", " time", ",", " far", " away."]))
    events = await collect(Agent(model_name=model), user_thread())
    deltas = [e.data["content_chunk"] for e in of(events, EventType.LLM_STREAM_CHUNK)]
    assert deltas == ["Once", " upon", " a", " time", ",", " far", " away."]
    final = of(events, EventType.MESSAGE_CREATED)[-1].data["message"]
    assert final.role == "assistant"
    assert final.content == "Once upon a time, far away."
    assert of(events, EventType.LLM_RESPONSE)[0].data["content"] == final.content
    assert assert_one_terminal(events).type is EventType.EXECUTION_COMPLETE


@BOTH
async def test_stream_chunks_carry_the_message_id_of_the_final_message(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="one two three"))
    thread = user_thread()
    events = await collect(Agent(model_name=model), thread)
    final = thread.messages[-1]
    assert {e.data["message_id"] for e in of(events, EventType.LLM_STREAM_CHUNK)} == {final.id}
    assert of(events, EventType.LLM_RESPONSE)[0].data["message_id"] == final.id


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_openai_reasoning_becomes_thinking_events(env: FakeModelServer, field: str) -> None:
    env.enqueue(
        Turn(thinking="First multiply 137 by 280, then add.", reasoning_field=field, text="The answer is 38,908.")
    )
    thread = user_thread("What's 137 * 284?")
    events = await collect(Agent(model_name="o1-preview"), thread)
    thinking = of(events, EventType.LLM_THINKING_CHUNK)
    assert len(thinking) > 1
    assert {e.data["thinking_type"] for e in thinking} == {"reasoning"}
    assert "".join(e.data["thinking_chunk"] for e in thinking) == "First multiply 137 by 280, then add."
    # Thinking is kept apart from the answer.
    assert "".join(e.data["content_chunk"] for e in of(events, EventType.LLM_STREAM_CHUNK)) == "The answer is 38,908."
    msg = thread.messages[-1]
    assert msg.reasoning_content == "First multiply 137 by 280, then add."
    assert msg.content == "The answer is 38,908."
    assert {e.data["message_id"] for e in thinking} == {msg.id}
    assert of(events, EventType.LLM_RESPONSE)[0].data["reasoning_content"] == msg.reasoning_content
    # Thinking comes before the answer, as on the wire.
    first_text = next(i for i, e in enumerate(events) if e.type is EventType.LLM_STREAM_CHUNK)
    last_thinking = max(i for i, e in enumerate(events) if e.type is EventType.LLM_THINKING_CHUNK)
    assert last_thinking < first_text


async def test_anthropic_thinking_events_and_reasoning_content(env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="137 * 284 = 137 * 280 + 137 * 4", text="38,908"))
    thread = user_thread("What's 137 * 284?")
    events = await collect(Agent(model_name=ANTHROPIC_MODEL, reasoning="low"), thread)
    thinking = of(events, EventType.LLM_THINKING_CHUNK)
    assert {e.data["thinking_type"] for e in thinking} == {"reasoning"}
    assert "".join(e.data["thinking_chunk"] for e in thinking) == "137 * 284 = 137 * 280 + 137 * 4"
    msg = thread.messages[-1]
    assert msg.reasoning_content == "137 * 284 = 137 * 280 + 137 * 4"
    assert msg.content == "38,908"
    assert msg.thinking_blocks == [
        {
            "type": "thinking",
            "thinking": "137 * 284 = 137 * 280 + 137 * 4",
            "signature": thinking_signature("137 * 284 = 137 * 280 + 137 * 4"),
        }
    ]
    # reasoning="low" turns extended thinking on in the request.
    assert env.requests[0].body["thinking"]["type"] == "enabled"
    assert env.requests[0].body["max_tokens"] > env.requests[0].body["thinking"]["budget_tokens"]


@BOTH
async def test_no_thinking_events_for_models_without_thinking(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="Just an answer."))
    thread = user_thread()
    events = await collect(Agent(model_name=model), thread)
    assert of(events, EventType.LLM_THINKING_CHUNK) == []
    assert thread.messages[-1].reasoning_content is None
    assert thread.messages[-1].thinking_blocks is None


@BOTH
async def test_tool_call_argument_deltas_reassemble(env: FakeModelServer, model: str) -> None:
    args_a = {"city": "Paris, France", "note": "a longer string to split in pieces"}
    args_b = {"city": "Tokyo"}
    env.enqueue(
        Turn(
            tool_calls=[
                FakeToolCall(
                    "get_weather",
                    args_a,
                    chunks=['{"city": "Par', 'is, France", ', '"note": "a longer string ', 'to split in pieces"}'],
                ),
                FakeToolCall("get_weather", args_b),
            ]
        ),
        Turn(text="Done."),
    )

    def get_weather(city: str, note: str = "") -> str:
        return f"Sunny in {city}"

    thread = user_thread("weather?")
    events = await collect(Agent(model_name=model, tools=[get_weather]), thread)
    assert_one_terminal(events)
    deltas = of(events, EventType.LLM_TOOL_CALL_CHUNK)
    assistant = next(m for m in thread.messages if m.role == "assistant" and m.tool_calls)
    assert len(assistant.tool_calls) == 2
    for index, call in enumerate(assistant.tool_calls):
        mine = [e for e in deltas if e.data["index"] == index]
        assert mine, f"no deltas for tool call {index}"
        assert "".join(e.data["arguments_delta"] for e in mine) == call["function"]["arguments"]
        assert {e.data["tool_call_id"] for e in mine} == {call["id"]}
        assert {e.data["tool_name"] for e in mine} == {"get_weather"}
        assert {e.data["message_id"] for e in mine} == {assistant.id}
    import json

    assert [json.loads(c["function"]["arguments"]) for c in assistant.tool_calls] == [args_a, args_b]
    # The ids tie the deltas, the tool events and the tool messages together.
    selected = of(events, EventType.TOOL_SELECTED)
    assert [e.data["tool_call_id"] for e in selected] == [c["id"] for c in assistant.tool_calls]
    assert [e.data["arguments"] for e in selected] == [
        {"city": "Paris, France", "note": "a longer string to split in pieces"},
        {"city": "Tokyo", "note": ""},
    ]
    tool_msgs = [m for m in thread.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_msgs] == [c["id"] for c in assistant.tool_calls]
    assert [m.content for m in tool_msgs] == ["Sunny in Paris, France", "Sunny in Tokyo"]
    results = of(events, EventType.TOOL_RESULT)
    assert {e.data["tool_call_id"] for e in results} == {c["id"] for c in assistant.tool_calls}


@BOTH
async def test_event_order_with_a_tool_call(env: FakeModelServer, model: str) -> None:
    env.enqueue(
        Turn(text="Let me check.", tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
        Turn(text="It is sunny in Paris."),
    )
    thread = user_thread("Weather in Paris?")
    events = await collect(Agent(model_name=model, tools=[get_weather]), thread)
    assert shape(events) == [
        "iteration_start",
        "llm_request",
        "chunks",
        "llm_response",
        "message_created",
        "tool_selected",
        "tool_executing",
        "tool_result",
        "message_created",
        "iteration_start",
        "llm_request",
        "chunks",
        "llm_response",
        "message_created",
        "execution_complete",
    ]
    created = [e.data["message"] for e in of(events, EventType.MESSAGE_CREATED)]
    assert [m.role for m in created] == ["assistant", "tool", "assistant"]
    assert created[0].content == "Let me check."
    assert created[1].content == "Sunny in Paris"
    assert created[1].name == "get_weather"
    assert created[2].content == "It is sunny in Paris."
    assert thread.messages[1:] == created
    assert of(events, EventType.TOOL_SELECTED)[0].data["tool_name"] == "get_weather"
    assert of(events, EventType.TOOL_RESULT)[0].data["result"] == "Sunny in Paris"
    assert [e.data["iteration_number"] for e in of(events, EventType.ITERATION_START)] == [1, 2]
    done = events[-1]
    assert done.data["thread_id"] == thread.id
    assert done.data["duration_ms"] > 0
    assert [m.id for m in done.data["new_messages"]] == [m.id for m in created]
    assert done.data["usage"]["total_tokens"] == sum(
        m.metrics["usage"]["total_tokens"] for m in created if m.role == "assistant"
    )
    assert done.data["usage"]["total_tokens"] > 0


@BOTH
async def test_tool_result_is_sent_back_to_the_model(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"})]), Turn(text="Cold."))
    await collect(Agent(model_name=model, tools=[get_weather]), user_thread())
    assert len(env.requests) == 2
    second = env.requests[1].body["messages"]
    if model == OPENAI_MODEL:
        assert second[-2]["role"] == "assistant"
        call = second[-2]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather"
        assert second[-1] == {
            "role": "tool",
            "content": "Sunny in Oslo",
            "name": "get_weather",
            "tool_call_id": call["id"],
        }
    else:
        assert second[-2]["role"] == "assistant"
        tool_use = second[-2]["content"][-1]
        assert tool_use["type"] == "tool_use"
        assert tool_use["input"] == {"city": "Oslo"}
        assert second[-1] == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "Sunny in Oslo"}],
        }


async def test_anthropic_thinking_signature_is_sent_back_before_tool_use(env: FakeModelServer) -> None:
    thinking = "I should look up the weather first."
    env.enqueue(
        Turn(thinking=thinking, tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
        Turn(text="Sunny."),
    )
    agent = Agent(model_name=ANTHROPIC_MODEL, tools=[get_weather], reasoning={"type": "enabled", "budget_tokens": 1024})
    events = await collect(agent, user_thread("Weather in Paris?"))
    assert assert_one_terminal(events).type is EventType.EXECUTION_COMPLETE
    assert len(env.requests) == 2
    body = env.requests[1].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assistant = messages[1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": thinking, "signature": thinking_signature(thinking)}
    assert assistant[1]["type"] == "tool_use"
    assert assistant[1]["name"] == "get_weather"
    assert assistant[1]["input"] == {"city": "Paris"}
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": assistant[1]["id"], "content": "Sunny in Paris"}
    ]


@BOTH
async def test_usage_and_metrics_on_the_assistant_message(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="a b c", usage={"prompt_tokens": 11, "completion_tokens": 3}))
    thread = user_thread()
    events = await collect(Agent(model_name=model), thread)
    msg = thread.messages[-1]
    assert msg.metrics["usage"]["prompt_tokens"] == 11
    assert msg.metrics["usage"]["completion_tokens"] == 3
    assert msg.metrics["usage"]["total_tokens"] == 14
    assert msg.metrics["model"] == model
    assert msg.metrics["timing"]["latency"] >= 0
    assert events[-1].data["usage"]["total_tokens"] == 14
    assert of(events, EventType.LLM_RESPONSE)[0].data["tokens"]["total_tokens"] == 14


async def test_system_prompt_contains_name_purpose_and_notes(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="ok"))
    agent = Agent(name="Ada", model_name=OPENAI_MODEL, purpose="To count sheep", notes="Be brief.")
    await collect(agent, user_thread())
    system = env.requests[0].body["messages"][0]
    assert system["role"] == "system"
    assert "Ada" in system["content"]
    assert "To count sheep" in system["content"]
    assert "Be brief." in system["content"]


async def test_llm_request_event_describes_the_request(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="ok"))
    events = await collect(Agent(model_name=OPENAI_MODEL, tools=[get_weather]), user_thread())
    request = of(events, EventType.LLM_REQUEST)[0]
    assert request.data["model"] == OPENAI_MODEL
    assert request.data["tool_count"] == 1
    assert request.data["message_count"] == len(env.requests[0].body["messages"])


async def test_thread_is_updated_in_place_and_can_continue(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="First answer."), Turn(text="Second answer."))
    agent = Agent(model_name=OPENAI_MODEL)
    thread = user_thread("first")
    await collect(agent, thread)
    thread.add_message(Message(role="user", content="second"))
    await collect(agent, thread)
    assert [m.role for m in thread.messages] == ["user", "assistant", "user", "assistant"]
    assert thread.messages[-1].content == "Second answer."
    sent = env.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "First answer."
