"""OpenAI Chat Completions (and every OpenAI-compatible server), streamed over `transport`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ..attachments import openai_content
from ..exceptions import ModelResponseError
from ..messages import Message
from .base import ModelChunk, ModelRequest, ToolCallDelta, Usage, check_complete
from .transport import DONE, Transport, as_transport, decode_event, sse_batches

RESPONSE_COMPLETE = "the response was complete"  # an OpenAI-shaped stream ends with a finish reason


def parse_chunk(d: dict[str, Any]) -> ModelChunk:
    """Normalize one `chat.completion.chunk` dict (kept as `raw`)."""
    chunk = ModelChunk(raw=d)
    choices = d.get("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            text = delta.get("content")
            if text:
                chunk.text = text
            thinking = delta.get("reasoning_content") or delta.get("reasoning")
            if thinking and isinstance(thinking, str):
                chunk.thinking = thinking
                chunk.thinking_type = "reasoning"
            calls = delta.get("tool_calls")
            if calls:
                chunk.tool_calls = [_tool_delta(c, i) for i, c in enumerate(calls)]
        finish = choice.get("finish_reason")
        if finish:
            chunk.finish_reason = finish
    usage = d.get("usage")
    if usage:
        chunk.usage = parse_usage(usage)
    return chunk


def _tool_delta(call: dict[str, Any], position: int) -> ToolCallDelta:
    fn = call.get("function") or {}
    return ToolCallDelta(
        index=call.get("index", position),
        id=call.get("id") or None,
        name=fn.get("name") or None,
        arguments=fn.get("arguments") or "",
    )


def parse_usage(u: dict[str, Any]) -> Usage:
    prompt = int(u.get("prompt_tokens") or 0)
    completion = int(u.get("completion_tokens") or 0)
    details = u.get("completion_tokens_details") or {}
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(u.get("total_tokens") or prompt + completion),
        reasoning_tokens=details.get("reasoning_tokens"),
        cache_read_tokens=cached,
    )


def _message_dict(message: Message, native_files: bool = False) -> dict[str, Any]:
    out = message.to_chat_dict()
    if message.attachments:
        out["content"] = openai_content(message.content, message.attachments, native_files=native_files)
    if out["role"] == "assistant" and out.get("content") is None and not out.get("tool_calls"):
        out["content"] = ""
    if out["role"] == "tool" and out.get("content") is None:
        out["content"] = ""
    return out


def chat_body(request: ModelRequest, model: str, *, official: bool = False) -> dict[str, Any]:
    """The streaming Chat Completions request body; the LiteLLM fallback sends the same one.

    `official` (api.openai.com) sends `max_completion_tokens`, which o-series models require, and
    files as native file parts.
    """
    s = request.settings
    messages = [_message_dict(m, official) for m in request.messages]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [t.to_openai() for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.max_tokens is not None:
        body["max_completion_tokens" if official else "max_tokens"] = s.max_tokens
    if isinstance(s.reasoning, str):
        body["reasoning_effort"] = s.reasoning
    elif isinstance(s.reasoning, dict):
        body.update(s.reasoning)
    if s.extra_body:
        body.update(s.extra_body)
    return body


class OpenAIProvider:
    """Streams from `POST {base_url}/chat/completions`.

    `official` marks api.openai.com, where o-series models want `max_completion_tokens`.
    `client`: an `aiohttp.ClientSession` or `httpx.AsyncClient` to send requests with (default:
    the shared pool of the running event loop).
    """

    native_output = True  # structured output through response_format json_schema

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        name: str = "openai",
        official: bool = False,
        headers: dict[str, str] | None = None,
        client: Any = None,
    ) -> None:
        self.name = name
        self.transport: Transport | None = None if client is None else as_transport(client)
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.official = official
        self.headers = {"Accept": "text/event-stream", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        return chat_body(request, self.model, official=self.official)

    def _chunk(self, d: Any) -> ModelChunk:
        if type(d) is not dict:
            raise ModelResponseError(
                f"{self.name} sent a non-object chunk: {str(d)[:200]!r}", provider=self.name, model=self.model
            )
        if d.get("error"):
            err = d["error"]
            msg = err.get("message", err) if isinstance(err, dict) else err
            raise ModelResponseError(
                f"{self.name} reported an error mid-stream: {msg}", provider=self.name, model=self.model
            )
        return parse_chunk(d)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        finished = False
        name, model = self.name, self.model
        batches = sse_batches(
            self.url, self.build_body(request), self.headers, request.settings, provider=name, model=model,
            transport=self.transport,
        )
        # Per network read, not per event: one generator step fewer for every streamed chunk.
        # try/finally, not aclosing(): no aclosing object and bound __aexit__ kept per open stream.
        try:
            async for batch in batches:
                for _event, data in batch:
                    d = decode_event(data, name, model)
                    if d is DONE:
                        finished = True
                        break
                    chunk = self._chunk(d)
                    if chunk.finish_reason:
                        finished = True
                    yield chunk
                else:
                    continue
                break  # [DONE]: the rest of the connection is not read
        finally:
            await batches.aclose()
        check_complete(finished, provider=name, model=model, ending=RESPONSE_COMPLETE)


__all__ = ["OpenAIProvider", "chat_body", "parse_chunk", "parse_usage"]
