"""Ours: `agent.stream(thread)` events, `agent.stream(thread, mode="raw")`, and `await agent.go()`.

Option {"uvloop": true} runs the same client on uvloop (the `uvloop` extra) instead of asyncio's loop.

One Agent serves every concurrent stream (runs keep their state per call, not on the Agent). The
shared pool keeps up to 2,000 idle connections, like the floor's unlimited pool, so a sweep
trial does not reconnect what the previous one opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from _common import ADD_SCHEMA, add, serve

from tyler import Agent, EventType, Message, Thread


class Ours:
    stream: Any

    async def setup(self, url: str, options: dict) -> None:
        from tyler.providers import configure_http

        configure_http(max_connections=None, max_keepalive_connections=2000)
        self.mode = options.get("mode", "events")
        kw: dict[str, Any] = {"model_name": "openai/bench", "api_base": url + "/v1", "api_key": "x"}
        self.agent = Agent(name="bench", **kw)
        self.tool_agent = Agent(name="bench", tools=[{"definition": ADD_SCHEMA, "implementation": add}], **kw)
        self.stream = None if self.mode == "go" else self._stream

    def _thread(self, prompt: str) -> Thread:
        thread = Thread()
        thread.add_message(Message(role="user", content=prompt))
        return thread

    async def _stream(self, prompt: str) -> AsyncIterator[Any]:
        thread = self._thread(prompt)
        if self.mode == "raw":
            async for chunk in self.agent.stream(thread, mode="raw"):
                choices = chunk.choices
                if choices and choices[0].delta.content:
                    yield chunk
        else:
            async for event in self.agent.stream(thread):
                if event.type is EventType.LLM_STREAM_CHUNK:
                    yield event
                elif event.type is EventType.EXECUTION_ERROR:
                    raise RuntimeError(f"execution error: {event.data}")

    async def complete(self, prompt: str) -> str:
        result = await self.agent.go(self._thread(prompt))
        return result.content or ""

    async def tool_round_trip(self, prompt: str) -> str:
        thread = self._thread(prompt)
        if self.mode == "go":
            result = await self.tool_agent.go(thread)
            return result.content or ""
        async for _ in self.tool_agent.stream(thread, mode="raw" if self.mode == "raw" else "events"):
            pass
        return thread.messages[-1].content or ""

    async def close(self) -> None:
        await self.agent.close()
        await self.tool_agent.close()


if __name__ == "__main__":
    serve(Ours())
