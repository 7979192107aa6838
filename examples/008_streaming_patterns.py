"""Streaming patterns from the guide: buffering, several streams on one agent, stopping early.

    python examples/008_streaming_patterns.py

1. Buffered output: print every N chunks instead of every chunk.
2. Concurrent streams: one Agent, several threads at once with asyncio.gather; each answer lands on
   its own thread.
3. Stopping early: leave the `async for` when enough text has arrived. The model request is closed
   at once and the partial answer stays on the thread, marked `interrupted`.

The model is $TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import TylerError

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")


def ask(question: str) -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=question))
    return thread


async def buffered(agent: Agent, thread: Thread, size: int = 5) -> AsyncIterator[str]:
    """The answer's text in pieces of `size` chunks."""
    buffer: list[str] = []
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            buffer.append(event.data["content_chunk"])
            if len(buffer) >= size:
                yield "".join(buffer)
                buffer = []
        elif event.type == EventType.EXECUTION_ERROR:
            raise event.data["exception"]
    if buffer:
        yield "".join(buffer)


async def collect(agent: Agent, thread: Thread) -> str:
    parts = []
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            parts.append(event.data["content_chunk"])
    return "".join(parts)


async def first_chars(agent: Agent, thread: Thread, limit: int) -> str:
    """Stream until `limit` characters have arrived, then stop the run."""
    seen = ""
    stream = agent.stream(thread)
    try:
        async for event in stream:
            if event.type == EventType.LLM_STREAM_CHUNK:
                seen += event.data["content_chunk"]
                if len(seen) >= limit:
                    break
    finally:
        await stream.aclose()  # closes the model request now, not when garbage collected
    return seen


async def main() -> None:
    agent = Agent(name="patterns", model_name=MODEL, purpose="To answer briefly")

    print("=== 1. Buffered ===")
    async for piece in buffered(agent, ask("Name five planets, one sentence each.")):
        print(f"[{piece}]", end="", flush=True)
    print()

    print("=== 2. Concurrent ===")
    questions = ["What is a comet?", "What is a quasar?", "What is a nebula?"]
    threads = [ask(q) for q in questions]
    answers = await asyncio.gather(*(collect(agent, t) for t in threads))
    for question, answer_text, thread in zip(questions, answers, threads, strict=True):
        print(f"Q: {question}\nA: {answer_text}")
        assert thread.messages[-1].content == answer_text  # each answer is on its own thread

    print("=== 3. Stopping early ===")
    thread = ask("Tell me a long story about the sea.")
    shown = await first_chars(agent, thread, limit=40)
    last = thread.messages[-1]
    print(f"Shown: {shown}")
    print(f"Kept on the thread: {last.role}, interrupted={last.interrupted}, {len(last.text)} characters")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except TylerError as exc:  # re-raised from an EXECUTION_ERROR event by buffered()
        sys.exit(f"{type(exc).__name__}: {exc}")
