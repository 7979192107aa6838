"""Raw streaming: OpenAI `chat.completion.chunk`s, for proxies and OpenAI-compatible clients.

    python examples/005_raw_streaming.py "Hello!"            # print the text, then the token usage
    python examples/005_raw_streaming.py --sse "Hello!"      # print the Server-Sent Events a proxy sends
    python examples/005_raw_streaming.py --serve 8000        # an OpenAI-compatible endpoint (needs fastapi, uvicorn)

With --serve, any OpenAI client can talk to the agent:

    curl -N localhost:8000/v1/chat/completions -H 'content-type: application/json' \\
         -d '{"messages": [{"role": "user", "content": "Hello!"}], "stream": true}'

Tools run inside the agent between model turns; the client sees `finish_reason: "tool_calls"` and
then the next turn's chunks. The model is $TYLER_EXAMPLE_MODEL (default gpt-4o).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from tyler import Agent, Message, Thread
from tyler.exceptions import TylerError

MODEL = os.environ.get("TYLER_EXAMPLE_MODEL", "gpt-4o")


def make_agent() -> Agent:
    return Agent(name="proxy-assistant", model_name=MODEL, purpose="OpenAI-compatible streaming")


def to_sse(chunk: Any) -> str:
    """One chunk as an SSE event. Raw chunks are plain dicts underneath, so json.dumps is enough."""
    return f"data: {json.dumps(chunk)}\n\n"


async def sse_events(agent: Agent, thread: Thread) -> AsyncIterator[str]:
    """The whole response as SSE, ending with OpenAI's `data: [DONE]` marker."""
    async for chunk in agent.stream(thread, mode="raw"):
        yield to_sse(chunk)
    yield "data: [DONE]\n\n"


async def print_text(agent: Agent, thread: Thread) -> None:
    async for chunk in agent.stream(thread, mode="raw"):
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        if chunk.usage:
            print(f"\n\nTokens: {chunk.usage.total_tokens}")


def create_app(agent: Agent) -> Any:
    """A FastAPI app with POST /v1/chat/completions (streaming when the request says "stream": true)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="tyler raw-streaming proxy")

    @app.post("/v1/chat/completions")
    async def chat_completions(body: dict[str, Any]) -> Any:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return JSONResponse({"error": {"message": "messages must be a non-empty list"}}, status_code=400)
        thread = Thread()
        for msg in messages:
            thread.add_message(Message(role=msg["role"], content=msg.get("content")))
        if body.get("stream"):
            return StreamingResponse(sse_events(agent, thread), media_type="text/event-stream")
        result = await agent.go(thread)
        return {
            "object": "chat.completion",
            "model": agent.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.content},
                         "finish_reason": "stop"}],
            "usage": result.usage,
        }

    return app


def main(argv: list[str]) -> None:
    agent = make_agent()
    if argv[:1] == ["--serve"]:
        try:
            import fastapi  # noqa: F401  (create_app needs it)
            import uvicorn
        except ImportError as exc:
            print(f"--serve needs FastAPI and uvicorn ({exc.name} is missing): pip install fastapi uvicorn",
                  file=sys.stderr)
            raise SystemExit(2) from None

        port = int(argv[1]) if len(argv) > 1 else 8000
        uvicorn.run(create_app(agent), host="127.0.0.1", port=port)
        return
    sse = argv[:1] == ["--sse"]
    words = argv[1:] if sse else argv
    thread = Thread()
    thread.add_message(Message(role="user", content=" ".join(words) or "Hello!"))
    if sse:
        async def dump() -> None:
            async for event in sse_events(agent, thread):
                print(event, end="", flush=True)

        asyncio.run(dump())
    else:
        asyncio.run(print_text(agent, thread))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except TylerError as exc:  # raw mode raises typed errors; show them as one line
        sys.exit(f"{type(exc).__name__}: {exc}")
