"""The floor: bare httpx + json reading the OpenAI-style SSE stream, nothing else.

What any client must at least do: one POST, read lines, parse each `data:` JSON, pick the content
delta. The tool round trip is the same by hand: gather the streamed tool-call deltas, call the
function, send the second request with the tool result.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from _common import ADD_SCHEMA, answer_tool_calls, serve


class Floor:
    stream: Any

    async def setup(self, url: str, options: dict) -> None:
        # No pool cap: K=1,000 concurrent streams each need their own connection.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.client = httpx.AsyncClient(
            base_url=url + "/v1",
            limits=limits,
            timeout=httpx.Timeout(120.0, connect=30.0),
            headers={"Authorization": "Bearer x"},
        )
        self.stream = self._stream

    async def _events(self, body: dict) -> AsyncIterator[dict]:
        async with self.client.stream("POST", "/chat/completions", json=body) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    async def _stream(self, prompt: str) -> AsyncIterator[str]:
        body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": prompt}]}
        async for obj in self._events(body):
            choices = obj.get("choices")
            if choices:
                content = choices[0].get("delta", {}).get("content")
                if content:
                    yield content

    async def complete(self, prompt: str) -> str:
        parts = [c async for c in self._stream(prompt)]
        return "".join(parts)

    async def tool_round_trip(self, prompt: str) -> str:
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _ in range(3):
            body = {"model": "bench", "stream": True, "messages": messages, "tools": [ADD_SCHEMA]}
            content: list[str] = []
            calls: dict[int, dict] = {}
            async for obj in self._events(body):
                choices = obj.get("choices")
                if not choices:
                    continue
                delta = choices[0].get("delta", {})
                if delta.get("content"):
                    content.append(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(tc.get("index", 0), {"id": None, "name": None, "args": ""})
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["name"] = fn.get("name") or slot["name"]
                    slot["args"] += fn.get("arguments") or ""
            if not calls:
                return "".join(content)
            answer_tool_calls(messages, content, calls)
        raise RuntimeError("tool loop did not finish in 3 model calls")

    async def close(self) -> None:
        await self.client.aclose()


if __name__ == "__main__":
    serve(Floor())
