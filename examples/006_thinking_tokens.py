"""Thinking tokens: a reasoning model's thinking, streamed apart from its answer.

    python examples/006_thinking_tokens.py                                  # Claude 3.7 Sonnet, extended thinking
    python examples/006_thinking_tokens.py o1-preview "What's 137 * 284?"   # an OpenAI reasoning model

Shows the three ways to get at the reasoning: LLM_THINKING_CHUNK events while streaming, the
assistant message's `reasoning_content` afterwards, and the `reasoning_content` field of raw chunks.
Models without reasoning simply emit no thinking events.
"""

from __future__ import annotations

import asyncio
import sys

from tyler import Agent, EventType, Message, Thread

DEFAULT_MODEL = "anthropic/claude-3-7-sonnet-20250219"


def ask(question: str) -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=question))
    return thread


async def events_demo(agent: Agent, question: str) -> None:
    print("=== 1. Events ===")
    thinking_open = False
    async for event in agent.stream(ask(question)):
        if event.type == EventType.LLM_THINKING_CHUNK:
            if not thinking_open:
                print(f"💭 [{event.data['thinking_type']}] ", end="")
                thinking_open = True
            print(event.data["thinking_chunk"], end="", flush=True)
        elif event.type == EventType.LLM_STREAM_CHUNK:
            if thinking_open:
                print("\n💬 ", end="")
                thinking_open = False
            print(event.data["content_chunk"], end="", flush=True)
        elif event.type == EventType.EXECUTION_ERROR:
            raise SystemExit(f"\n💥 {event.data['message']}")
    print()


async def message_demo(agent: Agent, question: str) -> None:
    print("=== 2. The message ===")
    thread = ask(question)
    result = await agent.go(thread)
    message = result.new_messages[-1]
    print(f"Full reasoning: {message.reasoning_content or '(none)'}")
    print(f"Answer: {result.content}")


async def raw_demo(agent: Agent, question: str) -> None:
    print("=== 3. Raw chunks ===")
    async for chunk in agent.stream(ask(question), mode="raw"):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.reasoning_content:
            print(f"[Reasoning] {delta.reasoning_content}")
        if delta.content:
            print(delta.content, end="", flush=True)
    print()


async def main(model: str, question: str) -> None:
    # reasoning="low" turns thinking on: a small thinking budget for Claude, reasoning_effort for OpenAI.
    agent = Agent(name="thinking-agent", model_name=model, purpose="To show its reasoning", reasoning="low")
    await events_demo(agent, question)
    await message_demo(agent, question)
    await raw_demo(agent, question)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0] if args else DEFAULT_MODEL, " ".join(args[1:]) or "What's 137 * 284? Show your thinking."))
