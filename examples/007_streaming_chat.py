"""A terminal chat that streams and remembers: conversations are kept in SQLite and resumed by id.

    python examples/007_streaming_chat.py                 # session "main-chat"
    python examples/007_streaming_chat.py work-notes      # another session

Type /exit (or exit, quit, Ctrl-D) to leave, /new to forget this session's history. Ctrl-C while
the assistant is answering stops that answer only (what was already shown stays in the history,
marked interrupted); Ctrl-C at the prompt leaves. The database is $TYLER_CHAT_DB, by default
example-chat.db in tyler's data directory ($TYLER_DATA_DIR, else the platform's user data
directory, as for `tyler chat`), not wherever the example was started; the model is
$TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading

from tyler import Agent, EventType, Message, Thread, ThreadStore

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")


def database_url() -> str:
    """$TYLER_CHAT_DB, else example-chat.db in tyler's data directory (created if missing)."""
    if os.environ.get("TYLER_CHAT_DB"):
        return os.environ["TYLER_CHAT_DB"]
    from pathlib import Path

    import platformdirs

    directory = Path(os.environ.get("TYLER_DATA_DIR") or platformdirs.user_data_dir("tyler", appauthor=False))
    directory.expanduser().mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{directory.expanduser() / 'example-chat.db'}"


async def open_thread(store: ThreadStore, session_id: str) -> Thread:
    thread = await store.get(session_id)
    if thread is None:
        print(f"🆕 Starting new conversation {session_id!r}...")
        return Thread(id=session_id)
    print(f"📚 Resuming conversation {session_id!r} ({len(thread.messages)} messages)...")
    return thread


async def answer(agent: Agent, thread: Thread) -> None:
    print("🤖 ", end="", flush=True)
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            print(event.data["content_chunk"], end="", flush=True)
        elif event.type == EventType.TOOL_SELECTED:
            print(f"\n🔧 {event.data['tool_name']}...", flush=True)
        elif event.type == EventType.EXECUTION_ERROR:
            print(f"\n💥 {event.data['message']}", end="")
    print("\n")


def start_reader() -> asyncio.Queue[str | None]:
    """Read stdin lines on a daemon thread, so Ctrl-C at the prompt exits at once."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    return lines


async def main(session_id: str) -> None:
    async with await ThreadStore.create(database_url()) as store:
        # With thread_store set, the agent saves each message as the run goes.
        agent = Agent(name="chat-assistant", model_name=MODEL, purpose="To have helpful conversations",
                      thread_store=store)
        thread = await open_thread(store, session_id)
        lines = start_reader()
        while True:
            print("You: ", end="", flush=True)
            line = await lines.get()
            if line is None or line.strip().lower() in ("/exit", "exit", "quit"):
                print()
                break
            if line.strip() == "/new":
                await store.delete(session_id)
                thread = Thread(id=session_id)
                print("🧹 History cleared.\n")
                continue
            if not line.strip():
                continue
            thread.add_message(Message(role="user", content=line))
            task = asyncio.ensure_future(answer(agent, thread))
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:  # Ctrl-C: stop this answer, keep the chat
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                print("\n⚠️ stopped\n")
    print("👋 Bye")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "main-chat"))
