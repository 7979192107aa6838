"""Tyler 6.4.0 (PyPI slide-tyler==6.4.0): `Agent.stream(thread)` events, `mode="openai"`, `run()`.

Tyler 6.4.0 keeps per-run state on the Agent instance (`_iteration_count`, tool caches), so one
Agent cannot serve two runs at once; concurrent streams each borrow an Agent from a pool that grows
to the largest concurrency seen (and is reused across trials), which is how an application would
have to use it.
"""

from __future__ import annotations

import os

# Tracing/telemetry off and no network fetch of the model cost map: the only traffic is to the
# fake server on loopback.
os.environ.setdefault("WEAVE_DISABLED", "true")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

import logging  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from typing import Any  # noqa: E402

from _common import ADD_SCHEMA, add, serve  # noqa: E402

from tyler import Agent, EventType, Message, Thread  # noqa: E402

logging.disable(logging.WARNING)


class Tyler640:
    stream: Any

    async def setup(self, url: str, options: dict) -> None:
        self.mode = options.get("mode", "events")
        self.kw = {"model_name": "openai/bench", "api_base": url + "/v1", "api_key": "x"}
        self.pool: list[Agent] = []
        self.tool_agent = Agent(name="bench", tools=[{"definition": ADD_SCHEMA, "implementation": add}], **self.kw)
        self.stream = None if self.mode == "run" else self._stream

    def _thread(self, prompt: str) -> Thread:
        thread = Thread()
        thread.add_message(Message(role="user", content=prompt))
        return thread

    async def _stream(self, prompt: str) -> AsyncIterator[Any]:
        agent = self.pool.pop() if self.pool else Agent(name="bench", **self.kw)
        try:
            thread = self._thread(prompt)
            if self.mode == "openai":
                async for chunk in agent.stream(thread, mode="openai"):
                    choices = getattr(chunk, "choices", None)
                    if choices and choices[0].delta.content:
                        yield chunk
            else:
                async for event in agent.stream(thread):
                    # 6.4.0 also emits an empty chunk for the role-only first delta: not content.
                    if event.type == EventType.LLM_STREAM_CHUNK and event.data.get("content_chunk"):
                        yield event
                    elif event.type == EventType.EXECUTION_ERROR:
                        raise RuntimeError(f"tyler execution error: {event.data}")
        finally:
            self.pool.append(agent)

    async def complete(self, prompt: str) -> str:
        agent = self.pool.pop() if self.pool else Agent(name="bench", **self.kw)
        try:
            result = await agent.run(self._thread(prompt))
            return result.content or ""
        finally:
            self.pool.append(agent)

    async def tool_round_trip(self, prompt: str) -> str:
        thread = self._thread(prompt)
        if self.mode == "run":
            result = await self.tool_agent.run(thread)
            return result.content or ""
        mode = "openai" if self.mode == "openai" else "events"
        n = 0
        async for _ in self.tool_agent.stream(thread, mode=mode):
            n += 1
        return thread.messages[-1].content or ""


if __name__ == "__main__":
    serve(Tyler640())
