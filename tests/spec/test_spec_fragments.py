"""The spec's fragments (blocks that use an `agent`/`thread` defined elsewhere), run as written.

Each test prepares what the fragment assumes (an Agent pointed at the fake server, a thread with a
user message), runs the block's code unchanged, then drives the classes and functions it defines.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal

from spec_support import exec_fragment, namespace, user_thread

from tyler import Agent, EventType, ExecutionEvent
from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.testing.server import last_user_text


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny and 22C in {city}"


def fetch_site(url: str) -> str:
    """Fetch a website and summarize it."""
    return f"{url}: a site about science"


def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: found"


async def test_understanding_execution_events(blocks, fake: FakeModelServer, capsys) -> None:
    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
        Turn(text="It is sunny in Paris."),
    )
    agent = Agent(name="weather", model_name="gpt-4", tools=[get_weather])
    thread = user_thread("Weather in Paris?")
    await exec_fragment(blocks["Understanding Execution Events#1"], namespace(agent=agent, thread=thread))
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"\n🔧 Calling tool: get_weather\n\n✅ Tool get_weather completed\n"
        r"It is sunny in Paris\.\n✅ Complete in \d+ms!\n",
        out,
    ), out
    assert fake.requests[1].messages[-1]["content"] == "Sunny and 22C in Paris"


async def test_progress_indicators(blocks, fake: FakeModelServer, capsys) -> None:
    sites = ["a.example", "b.example", "c.example"]
    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("fetch_site", {"url": s}) for s in sites]),
        Turn(text="Report: all three sites are about science."),
    )
    ns = namespace(agent=Agent(model_name="gpt-4", tools=[fetch_site]))
    await exec_fragment(blocks["Progress indicators#1"], ns)
    await ns["stream_with_progress"]()
    out = capsys.readouterr().out
    assert out == (
        "".join(f"\r⏳ Processing... ({n} tools used)" for n in (1, 2, 3))
        + "\r✅ Complete!" + " " * 30 + "\n"
        + "\n🤖 Report: all three sites are about science.\n"
    )
    assert fake.requests[0].messages[-1]["content"] == "Analyze these 10 websites and create a report"
    results = [m["content"] for m in fake.requests[1].messages if m["role"] == "tool"]
    assert results == [fetch_site(s) for s in sites]


PIECES = [f"w{i} " for i in range(12)]


async def test_buffered_streaming(blocks, fake: FakeModelServer, capsys) -> None:
    fake.enqueue(Turn(chunks=PIECES), Turn(chunks=PIECES))
    agent = Agent(model_name="gpt-4")
    ns = namespace(agent=agent, thread=user_thread("Count"))
    await exec_fragment(blocks["Buffered streaming#1"], ns)  # its "Usage" part prints the text
    assert capsys.readouterr().out == "".join(PIECES)

    thread = user_thread("Count again")
    items = [item async for item in ns["BufferedStreamer"](buffer_size=5).stream(agent, thread)]
    assert items[:-1] == ["".join(PIECES[0:5]), "".join(PIECES[5:10]), "".join(PIECES[10:12])]
    assert items[-1]["type"] == "complete"
    assert items[-1]["thread"]["thread"] is thread


async def _wait_for_chunks(fake: FakeModelServer, count: int) -> None:
    for _ in range(500):
        requests = fake.requests
        if requests and requests[-1].chunks_sent >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the fake server never sent the expected chunks")


async def _wait_for_interrupted(thread) -> None:
    for _ in range(200):
        if thread.messages[-1].role == "assistant":
            break
        await asyncio.sleep(0.01)
    last = thread.messages[-1]
    assert last.role == "assistant" and last.interrupted


LONG = " ".join(f"word{i}" for i in range(200))


async def test_cancellable_streaming_stops_on_sigint(blocks, fake: FakeModelServer, capsys) -> None:
    previous = signal.getsignal(signal.SIGINT)
    try:
        ns = namespace()
        await exec_fragment(blocks["Cancellable streaming#1"], ns)  # installs its SIGINT handler
        assert signal.getsignal(signal.SIGINT) is ns["signal_handler"]
        fake.enqueue(Turn(text=LONG, delay=0.02))
        thread = user_thread("Write a lot")
        task = asyncio.create_task(ns["stream_handler"].stream_with_cancel(Agent(model_name="gpt-4"), thread))
        await _wait_for_chunks(fake, 5)
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        await asyncio.wait_for(task, 5)
        assert await fake.await_disconnect(0), "stopping the stream did not close the model connection"
    finally:
        signal.signal(signal.SIGINT, previous)
    out = capsys.readouterr().out
    shown, _, note = out.partition("\n\n⚠️ Generation cancelled by user\n")
    assert note == ""
    assert shown and LONG.startswith(shown) and len(shown) < len(LONG)
    assert not fake.requests[0].completed
    await _wait_for_interrupted(thread)
    assert LONG.startswith(thread.messages[-1].content)


async def test_cancellable_streaming_task_cancelled(blocks, fake: FakeModelServer, capsys) -> None:
    previous = signal.getsignal(signal.SIGINT)
    try:
        ns = namespace()
        await exec_fragment(blocks["Cancellable streaming#1"], ns)
    finally:
        signal.signal(signal.SIGINT, previous)
    fake.enqueue(Turn(text=LONG, delay=0.02))
    thread = user_thread("Write a lot")
    task = asyncio.create_task(ns["CancellableStream"]().stream_with_cancel(Agent(model_name="gpt-4"), thread))
    await _wait_for_chunks(fake, 5)
    task.cancel()
    await asyncio.wait_for(task, 5)  # the block catches CancelledError and returns
    assert await fake.await_disconnect(0)
    out = capsys.readouterr().out
    assert out.endswith("\n\n⚠️ Stream interrupted\n")
    assert LONG.startswith(out.removesuffix("\n\n⚠️ Stream interrupted\n"))
    await _wait_for_interrupted(thread)


async def test_rich_terminal_ui(blocks, fake: FakeModelServer, capsys) -> None:
    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("lookup", {"term": "qubit"})]),
        Turn(text="Quantum computers use **qubits**."),
    )
    ns = namespace(agent=Agent(model_name="gpt-4", tools=[lookup]))
    await exec_fragment(blocks["Rich terminal UI#1"], ns)
    await ns["rich_streaming"]()
    out = capsys.readouterr().out
    assert "🔧 Tool" in out and "Using: lookup" in out
    assert "🤖 Assistant" in out
    assert "Quantum computers use qubits." in out  # markdown rendered: no asterisks
    assert out.index("Using: lookup") < out.rindex("Quantum computers")


async def test_token_counting(blocks, fake: FakeModelServer, capsys) -> None:
    fake.enqueue(Turn(chunks=PIECES))
    ns = namespace()
    await exec_fragment(blocks["Token counting#1"], ns)
    counter = ns["TokenCounter"]()
    updates = [u async for u in counter.count_stream(Agent(model_name="gpt-4"), user_thread("Count"))]
    assert updates[-1].type is EventType.EXECUTION_COMPLETE
    chunk_events = [u for u in updates if u.type is EventType.LLM_STREAM_CHUNK]
    assert counter.chunks == PIECES == [u.data["content_chunk"] for u in chunk_events]
    # As written it counts len(update.data) (the number of keys) // 4 per chunk.
    expected = sum(len(u.data) // 4 for u in chunk_events)
    assert counter.total_tokens == expected
    assert capsys.readouterr().out == f"\n\n📊 Approximate tokens used: {expected}\n"


async def test_chunk_size_optimization_agent_streams(blocks, fake: FakeModelServer) -> None:
    ns = namespace()
    await exec_fragment(blocks["1. Chunk Size Optimization#1"], ns)
    agent = ns["agent"]
    assert (agent.name, agent.model_name, agent.purpose) == ("optimized-streamer", "gpt-4", "To stream efficiently")
    fake.enqueue(Turn(text="Efficient."))
    result = await agent.go(user_thread("Hi"))
    assert result.content == "Efficient."


async def test_async_processing_runs_concurrently(blocks, fake: FakeModelServer) -> None:
    fake.set_responder(lambda request: Turn(text=f"About {last_user_text(request.body)}: done.", delay=0.03))
    queries = ["the moon", "black holes", "comets", "Mars"]
    agent = Agent(model_name="gpt-4")
    ns = namespace(agent=agent, queries=queries)
    await exec_fragment(blocks["2. Async Processing#1"], ns)
    results = await ns["process_multiple_streams"]()
    assert results == [f"About {q}: done." for q in queries]
    requests = [await fake.await_request_finished(i) for i in range(len(queries))]
    assert all(requests), "a model request never finished"
    assert sorted(last_user_text(r.body) for r in requests) == sorted(queries)
    # No cross-talk: each request carried its own thread, one user message and nothing else.
    assert all([m["role"] for m in r.messages] == ["system", "user"] for r in requests)
    # One agent, four streams at once: every request started before any finished.
    assert max(r.started for r in requests) < min(r.finished for r in requests)


class _FailingAgent:
    """An agent-like object whose stream fails after one event (the case safe_stream guards)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def stream(self, thread):
        yield ExecutionEvent(EventType.ITERATION_START, data={"iteration_number": 1})
        raise self.exc


async def test_error_handling_in_streams(blocks, fake: FakeModelServer) -> None:
    ns = namespace()
    await exec_fragment(blocks["3. Error Handling in Streams#1"], ns)
    safe_stream = ns["safe_stream"]

    fake.enqueue(Turn(text="Fine."))
    events = [e async for e in safe_stream(Agent(model_name="gpt-4"), user_thread("Hi"))]
    assert events[-1].type is EventType.EXECUTION_COMPLETE

    # A failing model: the agent reports it as its one terminal event, safe_stream passes it on.
    fake.enqueue(Turn(status=400, error_message="bad request from test"))
    events = [e async for e in safe_stream(Agent(model_name="gpt-4", max_retries=0), user_thread("Hi"))]
    assert [e.type for e in events if e.type.is_terminal] == [EventType.EXECUTION_ERROR]
    assert "bad request from test" in events[-1].data["message"]

    for exc, message in ((TimeoutError(), "Stream timed out"), (RuntimeError("boom"), "Stream error: boom")):
        events = [e async for e in safe_stream(_FailingAgent(exc), user_thread("Hi"))]
        assert [e.type for e in events] == [EventType.ITERATION_START, EventType.EXECUTION_ERROR]
        assert events[-1].data == {"message": message}
