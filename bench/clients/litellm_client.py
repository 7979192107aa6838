"""LiteLLM: `litellm.acompletion(stream=True)` against the fake server through `api_base`.

(This file is not named litellm.py: the script's folder comes first on sys.path and would shadow
the real package.) The tool round trip is written by hand because LiteLLM has no agent loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

import litellm  # noqa: E402
from _common import ADD_SCHEMA, answer_tool_calls, serve  # noqa: E402


class LiteLLM:
    stream: Any

    async def setup(self, url: str, options: dict) -> None:
        self.kw = {"model": "openai/bench", "api_base": url + "/v1", "api_key": "x"}
        litellm.telemetry = False
        self.stream = self._stream

    async def _stream(self, prompt: str) -> AsyncIterator[str]:
        resp = await litellm.acompletion(
            messages=[{"role": "user", "content": prompt}], stream=True, **self.kw
        )
        async for chunk in resp:
            if chunk.choices:
                content = chunk.choices[0].delta.content
                if content:
                    yield content

    async def complete(self, prompt: str) -> str:
        return "".join([c async for c in self._stream(prompt)])

    async def tool_round_trip(self, prompt: str) -> str:
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _ in range(3):
            resp = await litellm.acompletion(messages=messages, stream=True, tools=[ADD_SCHEMA], **self.kw)
            content: list[str] = []
            calls: dict[int, dict] = {}
            async for chunk in resp:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    content.append(delta.content)
                for tc in getattr(delta, "tool_calls", None) or []:
                    slot = calls.setdefault(tc.index or 0, {"id": None, "name": None, "args": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function is not None:
                        slot["name"] = tc.function.name or slot["name"]
                        slot["args"] += tc.function.arguments or ""
            if not calls:
                return "".join(content)
            answer_tool_calls(messages, content, calls)
        raise RuntimeError("tool loop did not finish in 3 model calls")


if __name__ == "__main__":
    serve(LiteLLM())
