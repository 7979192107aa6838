"""The agent with a real store: what the user saw survives cancellation, runs resume by id.

Runs against the fake model server (loopback) on a SQLite file and a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from tyler import Agent, EventType, Message, Thread, ThreadStore
from tyler.exceptions import ThreadNotFoundError
from tyler.testing import FakeModelServer, FakeToolCall, Turn

LONG = " ".join(f"word{i}" for i in range(300))


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def stored(url: str, thread_id: str) -> list[tuple[str, object, bool]]:
    """The thread as a fresh store on the same database sees it."""
    async with ThreadStore(url) as store:
        thread = await store.get_thread(thread_id)
    return [(m.role, m.content, m.interrupted) for m in thread.messages]


async def test_terminal_chat_session_persists_and_resumes(env: FakeModelServer, db_url: str) -> None:
    env.enqueue(Turn(text="Hello! How can I help?"))
    env.enqueue(Turn(text="Still here."))
    store = await ThreadStore.create(db_url)
    agent = Agent(name="chat-assistant", model_name="gpt-4", purpose="chat", thread_store=store)
    try:
        thread = await store.get_thread("main-chat")
    except:  # noqa: E722 - the guide's pattern
        thread = Thread(id="main-chat")
    thread.add_message(Message(role="user", content="hi"))
    async for update in agent.stream(thread):
        if update.type == EventType.EXECUTION_COMPLETE:
            await store.save_thread(thread)
    await store.close()
    assert await stored(db_url, "main-chat") == [
        ("user", "hi", False),
        ("assistant", "Hello! How can I help?", False),
    ]

    store = await ThreadStore.create(db_url)
    agent = Agent(name="chat-assistant", model_name="gpt-4", purpose="chat", thread_store=store)
    thread = await store.get_thread("main-chat")
    thread.add_message(Message(role="user", content="still there?"))
    async for _ in agent.stream(thread):
        pass
    await store.close()
    assert [c for _, c, _ in await stored(db_url, "main-chat")] == [
        "hi",
        "Hello! How can I help?",
        "still there?",
        "Still here.",
    ]


async def test_cancelled_run_keeps_user_message_and_partial_answer(env: FakeModelServer, db_url: str) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    store = await ThreadStore.create(db_url)
    agent = Agent(model_name="gpt-4o", thread_store=store)
    thread = Thread(id="cancelled")
    thread.add_message(Message(role="user", content="tell me a long story"))
    seen: list[str] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for event in agent.stream(thread):
            if event.type is EventType.LLM_STREAM_CHUNK:
                seen.append(event.data["content_chunk"])
                if len(seen) == 5:
                    started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()
    rows = await stored(db_url, "cancelled")
    assert rows[0] == ("user", "tell me a long story", False)
    assert len(rows) == 2
    role, content, interrupted = rows[1]
    assert role == "assistant" and interrupted is True
    assert isinstance(content, str) and content.startswith("".join(seen))


async def test_tool_run_saved_as_it_goes_and_resumed_by_id(env: FakeModelServer, db_url: str) -> None:
    env.enqueue(Turn(tool_calls=[FakeToolCall("add", {"a": 2, "b": 3})]))
    env.enqueue(Turn(text="2 + 3 = 5"))
    store = await ThreadStore.create(db_url)
    agent = Agent(model_name="gpt-4o", tools=[add], thread_store=store)
    thread = Thread(id="tools")
    thread.add_message(Message(role="user", content="add 2 and 3"))
    await store.save_thread(thread)
    async for _ in agent.stream("tools"):  # loaded by id from the store
        pass
    rows = await stored(db_url, "tools")
    assert [r[0] for r in rows] == ["user", "assistant", "tool", "assistant"]
    assert rows[2][1] == "5" and rows[3][1] == "2 + 3 = 5"
    # A missing id: in events mode the failure is an EXECUTION_ERROR carrying the typed error.
    errors = [e async for e in agent.stream("no-such-thread") if e.type is EventType.EXECUTION_ERROR]
    assert isinstance(errors[0].data["exception"], ThreadNotFoundError)
    assert "no-such-thread" in errors[0].data["message"]
    await store.close()


CRASHER = """
import asyncio, os, signal, sys
from tyler import Agent, EventType, Message, Thread, ThreadStore

async def main(url):
    store = await ThreadStore.create(url)
    thread = Thread(id="crash")
    thread.add_message(Message(role="user", content="first question"))
    async for _ in Agent(model_name="gpt-4o", thread_store=store).stream(thread):
        pass
    thread.add_message(Message(role="user", content="second question"))
    chunks = 0
    async for event in Agent(model_name="gpt-4o", thread_store=store).stream(thread):
        if event.type is EventType.LLM_STREAM_CHUNK:
            chunks += 1
            if chunks == 3:
                os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1]))
"""


async def test_process_killed_mid_run_keeps_everything_saved_before(env: FakeModelServer, db_url: str) -> None:
    env.enqueue(Turn(text="first answer"))
    env.enqueue(Turn(text=LONG, delay=0.01))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CRASHER, db_url)
    await asyncio.wait_for(proc.wait(), 60)
    assert proc.returncode == -9
    assert await stored(db_url, "crash") == [
        ("user", "first question", False),
        ("assistant", "first answer", False),
        ("user", "second question", False),
    ]
