"""Anthropic Messages API, streamed over `transport`, normalized to OpenAI-shaped chunks.

Thinking blocks come back with signatures; the run loop stores them on the assistant message
(`Message.thinking_blocks`) and this adapter sends them back first in that assistant turn, which
Anthropic requires for tool use with extended thinking.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from ..attachments import anthropic_blocks
from ..chunks import RawChunk
from ..exceptions import ModelResponseError
from ..messages import Message
from .base import ModelChunk, ModelRequest, ReasoningEffort, ToolCallDelta, Usage, check_complete
from .transport import Transport, as_transport, sse_json

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_BUDGETS: dict[ReasoningEffort, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _text_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        elif part.get("type") in ("image", "document", "tool_result", "text"):
            blocks.append(part)
    return blocks


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for tb in m.thinking_blocks or []:
        if tb["type"] == "redacted_thinking" or tb.get("signature"):
            blocks.append(dict(tb))  # a copy: the request body never aliases the stored message
    blocks.extend(_text_blocks(m.content))
    for call in m.tool_calls or []:
        fn = call["function"]
        try:
            args = json.loads(fn["arguments"] or "{}")
        except ValueError:
            args = {}
        if not isinstance(args, dict):
            args = {"value": args}
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"], "input": args})
    return blocks


def convert_messages(messages: list[Message], system: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI-style thread → (system, Anthropic messages); tool results become user blocks."""
    systems = [system] if system else []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            systems.append(m.text)
            continue
        if m.role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text}
            if m.attributes.get("error"):
                block["is_error"] = True
            role, blocks = "user", [block]
        elif m.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(m)
        else:
            role, blocks = "user", _text_blocks(m.content)
        if m.attachments:
            blocks = anthropic_blocks(m.attachments) + blocks  # Anthropic advises files before the question
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return ("\n\n".join(s for s in systems if s) or None), out


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    """OpenAI's tool_choice vocabulary in Anthropic's."""
    if isinstance(choice, dict):
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return {"type": {"required": "any"}.get(choice, choice)}


class _StreamState:
    """Per-response bookkeeping: tool block index → tool call index, ids for raw chunks."""

    __slots__ = ("created", "id", "model", "prompt_tokens", "tool_index")

    def __init__(self, model: str) -> None:
        self.id = ""
        self.model = model
        self.created = int(time.time())
        self.tool_index: dict[int, int] = {}
        self.prompt_tokens = 0

    def raw(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return RawChunk.build(self.id, self.model, delta, finish, self.created)


class AnthropicProvider:
    """Streams from `POST {base_url}/v1/messages`; `client` as for `OpenAIProvider`."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        name: str = "anthropic",
        headers: dict[str, str] | None = None,
        client: Any = None,
    ) -> None:
        self.name = name
        self.transport: Transport | None = None if client is None else as_transport(client)
        self.model = model
        base = base_url.rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self.headers = {"anthropic-version": API_VERSION, "Accept": "text/event-stream", **(headers or {})}
        if api_key:
            self.headers["x-api-key"] = api_key

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        s = request.settings
        system, messages = convert_messages(request.messages, request.system)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": s.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools
            ]
            if request.tool_choice is not None:
                body["tool_choice"] = _tool_choice(request.tool_choice)
        thinking = None
        if isinstance(s.reasoning, str):
            thinking = {"type": "enabled", "budget_tokens": _BUDGETS.get(s.reasoning, 8192)}
        elif isinstance(s.reasoning, dict):
            thinking = s.reasoning.get("thinking", s.reasoning)
        if thinking:
            body["thinking"] = thinking
            if body.get("tool_choice", {}).get("type") in ("any", "tool"):
                body["tool_choice"] = {"type": "auto"}  # Anthropic refuses forced tool use while thinking
            budget = int(str(thinking.get("budget_tokens") or 0))
            if body["max_tokens"] <= budget:
                body["max_tokens"] = budget + DEFAULT_MAX_TOKENS
        elif s.temperature is not None:  # Anthropic refuses a temperature with thinking on
            body["temperature"] = s.temperature
        if s.extra_body:
            body.update(s.extra_body)
        return body

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        state = _StreamState(self.model)
        finished = False
        events = sse_json(
            self.url, self.build_body(request), self.headers, request.settings, provider=self.name, model=self.model,
            transport=self.transport,
        )
        async with aclosing(events):
            async for event, d in events:
                kind = d.get("type", event) if type(d) is dict else None
                if kind == "message_stop":
                    finished = True
                    break
                chunk = self._convert(kind, d, state)
                if chunk is not None:
                    yield chunk
        check_complete(finished, provider=self.name, model=self.model, ending="message_stop")

    def _convert(self, kind: str | None, d: dict[str, Any], state: _StreamState) -> ModelChunk | None:
        if kind == "content_block_delta":
            return self._delta(d, state)
        if kind == "content_block_start":
            return self._block_start(d, state)
        if kind == "message_start":
            msg = d.get("message") or {}
            state.id = msg.get("id", "")
            state.model = msg.get("model") or state.model
            u = msg.get("usage") or {}
            state.prompt_tokens = (
                int(u.get("input_tokens") or 0)
                + int(u.get("cache_read_input_tokens") or 0)
                + int(u.get("cache_creation_input_tokens") or 0)
            )
            return ModelChunk(raw=state.raw({"role": "assistant", "content": ""}), response_id=state.id)
        if kind == "message_delta":
            stop = (d.get("delta") or {}).get("stop_reason")
            finish = _FINISH.get(stop, stop) if stop else None
            out = int((d.get("usage") or {}).get("output_tokens") or 0)
            usage = Usage(state.prompt_tokens, out, state.prompt_tokens + out)
            raw = state.raw({}, finish)
            raw["usage"] = usage.as_dict()
            return ModelChunk(raw=raw, finish_reason=finish, usage=usage)
        if kind == "error":
            err = d.get("error") or {}
            raise ModelResponseError(
                f"{self.name} stream error ({err.get('type', 'error')}): {err.get('message', d)}",
                provider=self.name,
                model=self.model,
            )
        if kind in ("content_block_stop", "ping") or kind is None:
            return None
        return None  # unknown event types are skipped, as Anthropic's versioning policy asks

    def _block_start(self, d: dict[str, Any], state: _StreamState) -> ModelChunk | None:
        block = d.get("content_block") or {}
        btype = block.get("type")
        if btype == "tool_use":
            index = state.tool_index.setdefault(d.get("index", 0), len(state.tool_index))
            call = {"index": index, "id": block.get("id"), "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""}}
            return ModelChunk(
                raw=state.raw({"tool_calls": [call]}),
                tool_calls=[ToolCallDelta(index, block.get("id"), block.get("name"), "")],
            )
        if btype == "redacted_thinking":
            return ModelChunk(raw=state.raw({"thinking_blocks": [block]}), redacted_thinking=block.get("data", ""))
        if btype == "text" and block.get("text"):
            return ModelChunk(raw=state.raw({"content": block["text"]}), text=block["text"])
        return None

    def _delta(self, d: dict[str, Any], state: _StreamState) -> ModelChunk | None:
        delta = d.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta":
            text = delta.get("text", "")
            return ModelChunk(raw=state.raw({"content": text}), text=text)
        if dtype == "thinking_delta":
            text = delta.get("thinking", "")
            return ModelChunk(
                raw=state.raw({"reasoning_content": text}), thinking=text, thinking_type="reasoning"
            )
        if dtype == "signature_delta":
            sig = delta.get("signature", "")
            raw = state.raw({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": sig}]})
            return ModelChunk(raw=raw, thinking_signature=sig)
        if dtype == "input_json_delta":
            index = state.tool_index.setdefault(d.get("index", 0), len(state.tool_index))
            part = delta.get("partial_json", "")
            call = {"index": index, "function": {"arguments": part}}
            return ModelChunk(
                raw=state.raw({"tool_calls": [call]}), tool_calls=[ToolCallDelta(index, None, None, part)]
            )
        return None


__all__ = ["AnthropicProvider", "convert_messages"]
