"""Delegation: a lead agent hands tasks to a researcher and a writer, their output shown nested.

    export OPENAI_API_KEY=...
    python examples/010_delegation.py "Write a short note on the history of the bicycle"

Each child is a tool of the lead (`Agent(agents=[...])`). While a child works, its events flow
into the lead's stream, marked in `event.attributes` with the child's `agent` name and `depth`.
The model is $TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import os
import sys

from tyler import Agent, EventType, Message, Thread

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")


def build() -> Agent:
    researcher = Agent(name="researcher", model_name=MODEL, purpose="To collect the key facts on a topic.")
    writer = Agent(name="writer", model_name=MODEL, purpose="To turn notes into a short, clear text.")
    return Agent(
        name="lead",
        model_name=MODEL,
        purpose="To answer requests by delegating research and writing, then presenting the result.",
        agents=[researcher, writer],
    )


async def main(request: str) -> None:
    thread = Thread()
    thread.add_message(Message(role="user", content=request))
    current = None  # who is speaking: a line starts when the speaker changes
    async for event in build().stream(thread):
        who = event.attributes["agent"] if event.attributes else "lead"
        depth = event.attributes["depth"] if event.attributes else 0
        indent = "    " * depth
        if event.type == EventType.LLM_STREAM_CHUNK:
            if current != who:
                print(f"\n{indent}[{who}] ", end="")
                current = who
            print(event.data["content_chunk"], end="", flush=True)
        elif event.type == EventType.TOOL_EXECUTING:
            print(f"\n{indent}→ {who} asks {event.data['tool_name']}: {event.data['arguments'].get('task', '')}")
            current = None
        elif event.type == EventType.TOOL_ERROR:
            print(f"\n{indent}✗ {event.data['tool_name']}: {event.data['error']}")
            current = None
        elif event.type == EventType.EXECUTION_ERROR:
            print(f"\n💥 {event.data['error_type']}: {event.data['message']}")
            raise SystemExit(1)
        elif event.type == EventType.EXECUTION_COMPLETE:
            print(f"\n\n📊 {event.data['usage']['total_tokens']} tokens (lead only) in {event.data['duration_ms']:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "Write a short note on the history of the bicycle"))
