"""Raw-mode chunks: OpenAI `chat.completion.chunk` values with attribute access.

A `RawChunk` *is* the chunk dict (a `dict` subclass), so it serializes with `json.dumps(chunk)` for
SSE proxies at no cost, while `chunk.choices[0].delta.content` works like LiteLLM's objects.
Nested dicts are wrapped only when accessed as attributes: wrapping eagerly would cost more per
chunk than parsing the JSON did.

Missing public fields read as None (LiteLLM's objects behave the same), so
`getattr(delta, "reasoning_content", None)` and `hasattr(delta, "thinking")` both work.
"""

from __future__ import annotations

from typing import Any


def _wrap(value: Any) -> Any:
    if type(value) is dict:
        return AttrDict(value)
    if type(value) is list:
        return [AttrDict(v) if type(v) is dict else v for v in value]
    return value


class AttrDict(dict[str, Any]):
    """A dict whose keys read as attributes (recursively)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(self.get(name))

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """The chunk as a plain dict (pydantic-style name, as LiteLLM's chunks have)."""
        return _plain(self)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def model_dump_json(self, **_: Any) -> str:
        import json

        return json.dumps(self, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class RawChunk(AttrDict):
    """One raw-mode chunk (OpenAI `chat.completion.chunk` shape)."""

    __slots__ = ()


__all__ = ["AttrDict", "RawChunk"]
