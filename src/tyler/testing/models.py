"""In-process test models: `Provider`s that answer without a socket.

`FakeModelServer` tests the whole path, HTTP and wire formats included. When a test is about the
run loop, tools or storage, a model in the same process is simpler and faster::

    from tyler import Agent
    from tyler.testing import FakeToolCall, FunctionModel, ScriptedModel, Turn

    model = ScriptedModel(Turn(tool_calls=[FakeToolCall("add", {"a": 1, "b": 2})]), Turn(text="3"))
    result = await Agent(provider=model, tools=[add]).go(thread)
    assert model.requests[1].messages[-1].role == "tool"

    echo = FunctionModel(lambda request: "echo: " + request.messages[-1].text)

Both are ordinary providers (the `Provider` contract of `tyler.providers.base`): they stream
`ModelChunk`s with OpenAI-shaped `raw` chunks, so every stream mode works, and record each
`ModelRequest` in `requests`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from ..chunks import RawChunk
from ..exceptions import ConfigurationError
from ..providers.base import ModelChunk, ModelRequest, ToolCallDelta, Usage
from .turns import Turn
from .wire import compute_usage, count_words, openai_finish_reason

DEFAULT_IN_PROCESS_REPLY = "This is a scripted reply."

# A Turn's wire-level failures only mean something on a socket (FakeModelServer).
_WIRE_ONLY = ("status", "abort_after", "malformed_at", "stall_after", "error_event", "retry_after", "headers")

FunctionResult = Turn | str | AsyncIterator[ModelChunk | str]
ModelFunction = Callable[[ModelRequest], FunctionResult | Awaitable[Turn | str]]


def _check_in_process(turn: Turn) -> Turn:
    used = [name for name in _WIRE_ONLY if getattr(turn, name) is not None]
    if used:
        raise ConfigurationError(
            f"Turn field(s) {used} describe wire failures: use FakeModelServer for them, or a "
            "FunctionModel whose function raises the error under test"
        )
    return turn


def _snapshot(request: ModelRequest) -> ModelRequest:
    """The request as it was sent: the loop passes the thread's own (growing) message list."""
    return dataclasses.replace(request, messages=list(request.messages))


def _prompt_words(request: ModelRequest) -> int:
    return count_words(request.system or "") + sum(count_words(m.text) for m in request.messages)


class _Chunks:
    """Builds the chunks of one reply: normalized fields plus the OpenAI-shaped raw chunk."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.model = model

    def make(self, delta: dict[str, Any], finish: str | None = None, **fields: Any) -> ModelChunk:
        return ModelChunk(raw=RawChunk.build(self.id, self.model, delta, finish), **fields)

    def text(self, piece: str) -> ModelChunk:
        return self.make({"content": piece}, text=piece)


def _tool_call_chunks(out: _Chunks, turn: Turn) -> list[ModelChunk]:
    chunks = []
    for index, call in enumerate(turn.tool_calls):
        call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        chunks.append(out.make({"tool_calls": [head]}, tool_calls=[ToolCallDelta(index, call_id, call.name, "")]))
        for piece in call.argument_pieces():
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            chunks.append(out.make(delta, tool_calls=[ToolCallDelta(index, None, None, piece)]))
    return chunks


def turn_chunks(turn: Turn, request: ModelRequest) -> list[ModelChunk]:
    """The chunks an OpenAI-compatible model would stream for `turn` (usage counted in words)."""
    out = _Chunks(request.model)
    chunks = [out.make({"role": "assistant", "content": ""})]
    for piece in turn.thinking_pieces():
        chunks.append(out.make({"reasoning_content": piece}, thinking=piece, thinking_type="reasoning"))
    if turn.signature:
        block = {"type": "thinking", "thinking": "", "signature": turn.signature}
        chunks.append(out.make({"thinking_blocks": [block]}, thinking_signature=turn.signature))
    chunks.extend(out.text(piece) for piece in turn.text_pieces())
    chunks.extend(_tool_call_chunks(out, turn))
    counts = compute_usage(turn, _prompt_words(request))
    usage = Usage(counts["prompt_tokens"], counts["completion_tokens"], counts["total_tokens"])
    finish = openai_finish_reason(turn)
    raw = RawChunk.build(out.id, out.model, {}, finish)
    raw["usage"] = usage.as_dict()
    chunks.append(ModelChunk(raw=raw, finish_reason=finish, usage=usage))
    return chunks


async def _paced(turn: Turn, chunks: list[ModelChunk]) -> AsyncGenerator[ModelChunk, None]:
    if turn.first_byte_delay:
        await asyncio.sleep(turn.first_byte_delay)
    for n, chunk in enumerate(chunks):
        if n and turn.delay:
            await asyncio.sleep(turn.delay)
        yield chunk


@asynccontextmanager
async def _closing(items: AsyncIterator[Any]) -> AsyncGenerator[AsyncIterator[Any], None]:
    try:
        yield items
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()


class ScriptedModel:
    """A provider that answers each request with the next scripted `Turn`.

    Turns are used in order; then `default` (if given) for every further request; then a fixed
    reply, `DEFAULT_IN_PROCESS_REPLY`. Content fields (text, thinking, signature, tool calls,
    usage, finish reason) and pacing (`delay`, `first_byte_delay`) work as on `FakeModelServer`;
    wire failures (status, aborts, stalls...) are refused: they need a socket.
    """

    def __init__(self, *turns: Turn, default: Turn | None = None, name: str = "scripted") -> None:
        self.name = name
        self.requests: list[ModelRequest] = []
        self._turns: deque[Turn] = deque(_check_in_process(t) for t in turns)
        self.default = _check_in_process(default) if default is not None else None

    def enqueue(self, *turns: Turn) -> None:
        """Add replies after the ones already scripted."""
        self._turns.extend(_check_in_process(t) for t in turns)

    @property
    def pending(self) -> int:
        """Scripted turns not used yet."""
        return len(self._turns)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        self.requests.append(_snapshot(request))
        turn = self._turns.popleft() if self._turns else self.default or Turn(text=DEFAULT_IN_PROCESS_REPLY)
        async for chunk in _paced(turn, turn_chunks(turn, request)):
            yield chunk


class FunctionModel:
    """A provider whose replies come from a function of the request.

    `function(request)` returns (or, if async, resolves to) a `Turn` or a `str` (the reply text),
    or is an async generator yielding `str` pieces and/or `ModelChunk`s, which are streamed as
    they come; whatever it raises fails the model call, as a provider error would. A stream of
    pieces ends with finish reason "stop".
    """

    def __init__(self, function: ModelFunction, *, name: str = "function") -> None:
        self.function = function
        self.name = name
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        self.requests.append(_snapshot(request))
        result: Any = self.function(request)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, str):
            result = Turn(text=result)
        if isinstance(result, Turn):
            turn = _check_in_process(result)
            async for chunk in _paced(turn, turn_chunks(turn, request)):
                yield chunk
            return
        if not hasattr(result, "__aiter__"):
            raise ConfigurationError(
                f"a FunctionModel function must return a Turn, a str or an async iterator, got {type(result).__name__}"
            )
        out = _Chunks(request.model)
        finished = False
        async with _closing(result) as items:  # a consumer that stops closes the function's generator
            async for item in items:
                chunk = out.text(item) if isinstance(item, str) else item
                finished = finished or bool(chunk.finish_reason)
                yield chunk
        if not finished:
            yield out.make({}, "stop", finish_reason="stop")


__all__ = ["DEFAULT_IN_PROCESS_REPLY", "FunctionModel", "ScriptedModel", "turn_chunks"]
