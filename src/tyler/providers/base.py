"""The provider contract: a request in, an async iterator of normalized chunks out.

A provider knows one wire protocol (OpenAI Chat Completions, Anthropic Messages, ...). The run loop
only ever sees `ModelRequest` and `ModelChunk`, never which provider it talks to.

One `ModelChunk` is produced per wire chunk (not one object per kind of delta) because the hot path
is a chunk per token: a single slotted object keeps the cost near that of parsing the JSON.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, get_args, runtime_checkable

from ..exceptions import ModelConnectionError
from ..messages import Message, TokenUsage


class FunctionDefinition(TypedDict):
    """A function as OpenAI's tools list describes it: name, description, JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


class FunctionTool(TypedDict):
    """A tool in OpenAI's function-tool shape (what `Tyler` tool dicts hold as `definition`)."""

    type: Literal["function"]
    function: FunctionDefinition


@dataclass(slots=True)
class ToolSpec:
    """A tool as offered to the model: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> FunctionTool:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


ReasoningEffort = Literal["minimal", "low", "medium", "high"]
"""How hard a reasoning model thinks: OpenAI's `reasoning_effort`, an Anthropic thinking budget."""
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = get_args(ReasoningEffort)


@dataclass(slots=True)
class ModelSettings:
    """Per-request knobs. `reasoning` is None, a `ReasoningEffort`, or a provider-specific dict."""

    temperature: float | None = None
    max_tokens: int | None = None
    reasoning: ReasoningEffort | dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    connect_timeout: float = 10.0
    stall_timeout: float = 120.0
    max_retries: int = 2
    request_timeout: float | None = None  # the whole request, connecting to the stream's end
    max_event_bytes: int = 16 * 1024 * 1024  # one server-sent event; past it SSEEventTooLargeError


@dataclass(slots=True)
class ModelRequest:
    """One model call. `tool_choice` is in OpenAI's vocabulary ("auto", "required", "none" or
    `{"type": "function", "function": {"name": ...}}`); providers translate it. `response_format`
    (OpenAI's json_schema shape) is only set for providers with `native_output = True`."""

    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    settings: ModelSettings = field(default_factory=ModelSettings)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call. `index` ties pieces together; id/name come with the first."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    cache_read_tokens: int | None = None

    def as_dict(self) -> TokenUsage:
        out: TokenUsage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens is not None:
            out["reasoning_tokens"] = self.reasoning_tokens
        return out


@dataclass(slots=True)
class ModelChunk:
    """One normalized wire chunk.

    `raw` is the chunk in OpenAI `chat.completion.chunk` shape (for an OpenAI-compatible provider,
    the parsed JSON as received; others build it) and is what raw mode yields.
    `thinking_type` is what LLM_THINKING_CHUNK reports: "reasoning" for OpenAI-style
    reasoning_content/reasoning and for Anthropic thinking blocks (as LiteLLM normalizes them, and
    as the spec's Claude example prints); "thinking" for a provider's own `thinking` delta field.
    `thinking_signature` carries Anthropic's signature_delta; `redacted_thinking` carries a redacted
    block's opaque data.
    """

    raw: dict[str, Any] | None = None
    text: str | None = None
    thinking: str | None = None
    thinking_type: str | None = None
    thinking_signature: str | None = None
    redacted_thinking: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    response_id: str | None = None


def check_complete(finished: bool, *, provider: str, model: str, ending: str) -> None:
    """The end-of-stream check every provider makes: a stream that stops before its last event
    (finish reason, `[DONE]`, `message_stop`...) lost part of the answer, and must fail the run."""
    if not finished:
        raise ModelConnectionError(f"{provider} stream ended before {ending}", provider=provider, model=model)


@runtime_checkable
class Provider(Protocol):
    """Turns a `ModelRequest` into an async iterator of `ModelChunk`.

    The iterator must be an async generator (or have `aclose`): closing it must close the upstream
    HTTP response at once. Errors are raised as `tyler.exceptions.ModelError` subclasses. Retries
    are allowed only before the first chunk is yielded.
    """

    name: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]: ...


__all__ = [
    "REASONING_EFFORTS", "FunctionDefinition", "FunctionTool",
    "ModelChunk", "ModelRequest", "ModelSettings", "Provider", "ReasoningEffort", "ToolCallDelta",
    "ToolSpec", "Usage", "check_complete",
]
