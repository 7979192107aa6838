"""Raw-mode chunks: OpenAI `chat.completion.chunk` values with attribute access.

A `RawChunk` *is* the chunk dict (a `dict` subclass), so it serializes with `json.dumps(chunk)` for
SSE proxies at no cost, while `chunk.choices[0].delta.content` works like LiteLLM's objects.

The fields of the chunk schema are class-level properties rather than a `__getattr__` fallback:
a fallback runs only after a failed lookup has raised and caught AttributeError, which costs more
per chunk than parsing the JSON. Nested dicts are wrapped only when read, for the same reason.
Missing fields read as None (LiteLLM's objects behave the same), so
`getattr(delta, "reasoning_content", None)` and `hasattr(delta, "thinking")` both work.
"""

from __future__ import annotations

import json
import time
from typing import Any


class AttrDict(dict[str, Any]):
    """A dict whose keys also read as attributes (recursively); missing public names are None."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(self.get(name))

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """The chunk as a plain dict (pydantic-style name, as LiteLLM's chunks have)."""
        return {k: _plain(v) for k, v in self.items()}

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def model_dump_json(self, **_: Any) -> str:
        return json.dumps(self, ensure_ascii=False)


def _wrap(value: Any) -> Any:
    if type(value) is dict:
        return AttrDict(value)
    if type(value) is list:
        return [AttrDict(v) if type(v) is dict else v for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _field(name: str) -> property:
    return property(lambda self: self.get(name), doc=f"the chunk's `{name}` (None when absent)")


def _wrapped(name: str) -> property:
    return property(lambda self: _wrap(self.get(name)), doc=f"the chunk's `{name}` (None when absent)")


class Delta(AttrDict):
    """`choices[i].delta`: role, content, tool_calls, reasoning_content, thinking..."""

    __slots__ = ()
    role = _field("role")
    content = _field("content")
    reasoning_content = _field("reasoning_content")
    reasoning = _field("reasoning")
    thinking = _field("thinking")
    refusal = _field("refusal")
    tool_calls = _wrapped("tool_calls")
    thinking_blocks = _wrapped("thinking_blocks")


class Choice(AttrDict):
    __slots__ = ()
    index = _field("index")
    finish_reason = _field("finish_reason")
    logprobs = _field("logprobs")

    @property
    def delta(self) -> Delta:
        return Delta(self.get("delta") or {})


class ChunkUsage(AttrDict):
    __slots__ = ()
    prompt_tokens = _field("prompt_tokens")
    completion_tokens = _field("completion_tokens")
    total_tokens = _field("total_tokens")


class RawChunk(AttrDict):
    """One raw-mode chunk (OpenAI `chat.completion.chunk` shape)."""

    __slots__ = ()
    id = _field("id")
    object = _field("object")
    created = _field("created")
    model = _field("model")
    system_fingerprint = _field("system_fingerprint")

    @property
    def choices(self) -> list[Choice]:
        choices = self.get("choices")
        return [Choice(c) for c in choices] if choices else []

    @property
    def usage(self) -> ChunkUsage | None:
        usage = self.get("usage")
        return ChunkUsage(usage) if usage else None

    @classmethod
    def build(
        cls, id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
        created: int | None = None,
    ) -> RawChunk:
        """A one-choice chunk, for providers that are not OpenAI-shaped and for the run's own notes."""
        return cls({
            "id": id,
            "object": "chat.completion.chunk",
            "created": int(time.time()) if created is None else created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })


__all__ = ["AttrDict", "Choice", "ChunkUsage", "Delta", "RawChunk"]
