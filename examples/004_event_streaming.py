"""Event streaming: text as it is generated, tool calls as they happen, a summary at the end.

    export OPENAI_API_KEY=...            # or ANTHROPIC_API_KEY with TYLER_EXAMPLE_MODEL=anthropic/claude-...
    python examples/004_event_streaming.py "What time is it in Tokyo, and what is 17 * 23?"

The model is $TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

from tyler import Agent, EventType, Message, Thread

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")
OFFSETS = {"utc": 0, "london": 0, "paris": 1, "new york": -5, "tokyo": 9, "sydney": 11}


def current_time(city: str) -> str:
    """The current time in a city.

    Args:
        city: one of UTC, London, Paris, New York, Tokyo, Sydney.
    """
    offset = OFFSETS.get(city.strip().lower())
    if offset is None:
        raise ValueError(f"unknown city {city!r}; known: {', '.join(sorted(OFFSETS))}")
    return (datetime.now(UTC) + timedelta(hours=offset)).strftime("%H:%M")


def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


async def main(question: str) -> None:
    agent = Agent(
        name="streaming-assistant",
        model_name=MODEL,
        purpose="To answer questions, using tools when they help",
        tools=[current_time, multiply],
    )
    thread = Thread()
    thread.add_message(Message(role="user", content=question))

    speaking = False  # whether the "🤖 " prefix of the current stretch of text is printed
    async for event in agent.stream(thread):
        if event.type == EventType.LLM_STREAM_CHUNK:
            if not speaking:
                print("🤖 ", end="")
                speaking = True
            print(event.data["content_chunk"], end="", flush=True)
        elif event.type == EventType.TOOL_SELECTED:
            if speaking:  # end the text line before listing tools
                print()
                speaking = False
            print(f"🔧 {event.data['tool_name']}({event.data['arguments']})", flush=True)
        elif event.type == EventType.TOOL_RESULT:
            print(f"   ✅ {event.data['tool_name']}: {event.data['result']}", flush=True)
        elif event.type == EventType.TOOL_ERROR:
            print(f"   ❌ {event.data['tool_name']}: {event.data['error']}", flush=True)
        elif event.type == EventType.EXECUTION_ERROR:
            print(f"\n💥 {event.data['error_type']}: {event.data['message']}")
            raise SystemExit(1)
        elif event.type == EventType.EXECUTION_COMPLETE:
            usage = event.data["usage"]
            print(f"\n\n📊 {usage['total_tokens']} tokens in {event.data['duration_ms']:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "What time is it in Tokyo, and what is 17 * 23?"))
