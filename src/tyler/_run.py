"""The run loop: one async generator drives go(), stream(mode="events") and stream(mode="raw").

Events are values the consumer pulls; nothing runs ahead of the consumer, so there is no unbounded
buffer. When the consumer stops pulling (break, aclose, task cancellation) the generator is closed:
the provider stream is closed (which closes the upstream HTTP response), running tools are
cancelled, and whatever the user already saw is kept on the thread, marked `interrupted`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypedDict, overload

from . import events as ev
from ._context import RunContext
from ._repair import answered, unique_call_ids
from .approval import AWAITING, ApprovalDenied, ApprovalRequest, Approvals, needs_approval
from .attachments import load_contents
from .chunks import RawChunk
from .events import EventType, ExecutionEvent
from .exceptions import ConfigurationError, ContextLengthError, ExecutionError, StructuredOutputError, TylerError
from .messages import Message, MessageMetrics, SignedThinking, Thread, TokenUsage, ToolCall
from .providers.base import ModelChunk, ModelRequest
from .structured import OUTPUT_TOOL, OutputSpec, Verdict
from .tools import Tool, ToolArgumentsError, ToolContext, tool_output_text

if TYPE_CHECKING:
    from .context import ContextPlan
    from .storage import ThreadStore

_E = EventType
log = logging.getLogger("tyler.run")
_PROGRESS_BUFFER = 64  # progress events waiting for the consumer before tools are made to wait


class Mode(Enum):
    EVENTS = "events"  # every event, failures as EXECUTION_ERROR
    RAW = "raw"  # only raw chunks, failures raised
    RESULT = "result"  # lifecycle events without per-chunk ones, failures raised (go())


# One overload per event type ties each type to its payload TypedDict (checked by mypy, free at run time).
@overload
def _ev(type_: Literal[_E.ITERATION_START], data: ev.IterationStartData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.LLM_REQUEST], data: ev.LLMRequestData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.LLM_THINKING_CHUNK], data: ev.LLMThinkingChunkData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.LLM_TOOL_CALL_CHUNK], data: ev.LLMToolCallChunkData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.LLM_RESPONSE], data: ev.LLMResponseData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.MESSAGE_CREATED], data: ev.MessageCreatedData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.TOOL_SELECTED], data: ev.ToolSelectedData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.TOOL_EXECUTING], data: ev.ToolExecutingData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.TOOL_PROGRESS], data: ev.ToolProgressData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.TOOL_RESULT], data: ev.ToolResultData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.TOOL_ERROR], data: ev.ToolErrorData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.APPROVAL_REQUESTED], data: ev.ApprovalRequestedData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.APPROVAL_RESOLVED], data: ev.ApprovalResolvedData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.STRUCTURED_OUTPUT_INVALID], data: ev.StructuredOutputInvalidData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.ITERATION_LIMIT], data: ev.IterationLimitData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.CONTEXT_TRIMMED], data: ev.ContextTrimmedData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.EXECUTION_COMPLETE], data: ev.ExecutionCompleteData) -> ExecutionEvent: ...
@overload
def _ev(type_: Literal[_E.EXECUTION_ERROR], data: ev.ExecutionErrorData) -> ExecutionEvent: ...
def _ev(type_: EventType, data: Any) -> ExecutionEvent:
    return ExecutionEvent(type_, None, data)  # stamped now (read lazily, see ExecutionEvent)


class _PartialCall(TypedDict):
    """A tool call while it streams: id and name as they come, argument pieces to join."""

    id: str | None
    name: str | None
    args: list[str]


class _Block(TypedDict):
    """A thinking block while it streams (`parts` joined at the end) or a redacted one (`data`)."""

    type: Literal["thinking", "redacted_thinking"]
    parts: list[str]
    data: str
    signature: str | None


class _Turn:
    """What one model response has produced so far."""

    __slots__ = (
        "blocks", "finish_reason", "first_token_at", "message_id", "started", "text", "thinking",
        "tool_calls", "usage",
    )

    def __init__(self) -> None:
        self.message_id = uuid.uuid4().hex
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.text: list[str] = []
        # Made by the first thinking delta: most turns have none, and every open stream keeps its turn.
        self.thinking: list[str] | None = None
        self.blocks: list[_Block] | None = None  # thinking blocks; Anthropic signs them
        self.tool_calls: dict[int, _PartialCall] = {}
        self.usage: TokenUsage | None = None
        self.finish_reason: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.text or self.thinking or self.tool_calls)

    def add_thinking(self, chunk: ModelChunk) -> None:
        # Blocks are built for every provider; only signed ones (Anthropic's) are kept and sent back.
        thinking, blocks = self.thinking, self.blocks
        if thinking is None or blocks is None:
            thinking = self.thinking = []
            blocks = self.blocks = []
        if chunk.thinking:
            thinking.append(chunk.thinking)
            if not blocks or blocks[-1]["signature"] is not None:
                blocks.append({"type": "thinking", "parts": [], "data": "", "signature": None})
            blocks[-1]["parts"].append(chunk.thinking)
        if chunk.thinking_signature:
            if not blocks or blocks[-1]["signature"] is not None:
                blocks.append({"type": "thinking", "parts": [], "data": "", "signature": None})
            blocks[-1]["signature"] = chunk.thinking_signature
        if chunk.redacted_thinking:
            data = chunk.redacted_thinking
            blocks.append({"type": "redacted_thinking", "parts": [], "data": data, "signature": ""})

    def signed_blocks(self) -> list[SignedThinking]:
        out: list[SignedThinking] = []
        for b in self.blocks or ():
            if b["type"] == "redacted_thinking":
                out.append({"type": "redacted_thinking", "data": b["data"]})
            elif b["signature"]:
                out.append({"type": "thinking", "thinking": "".join(b["parts"]), "signature": b["signature"]})
        return out

    def finished_tool_calls(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for index in sorted(self.tool_calls):
            c = self.tool_calls[index]
            calls.append({
                "id": c["id"] or f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": c["name"] or "", "arguments": "".join(c["args"])},
            })
        return unique_call_ids(calls)

    def to_message(self, model: str, *, interrupted: bool = False) -> Message:
        ended = time.perf_counter()
        metrics: MessageMetrics = {
            "model": model,
            "timing": {"latency": round((ended - self.started) * 1000, 3)},
        }
        if self.first_token_at is not None:
            metrics["timing"]["time_to_first_token"] = round((self.first_token_at - self.started) * 1000, 3)
        if self.usage:
            metrics["usage"] = self.usage
        attributes: dict[str, Any] = {}
        if self.finish_reason:
            attributes["finish_reason"] = self.finish_reason
        tool_calls = None
        if interrupted:
            if self.tool_calls:  # incomplete calls would break the next request: keep them aside
                attributes["partial_tool_calls"] = self.finished_tool_calls()
        elif self.tool_calls:
            tool_calls = self.finished_tool_calls()
        blocks = self.signed_blocks()
        return Message(
            id=self.message_id,
            role="assistant",
            content="".join(self.text),
            reasoning_content="".join(self.thinking) if self.thinking else None,
            thinking_blocks=blocks or None,
            tool_calls=tool_calls,
            metrics=metrics,
            attributes=attributes,
            interrupted=interrupted,
        )


class _Run:
    """State of one run. Everything per run lives here, so one Agent serves concurrent runs."""

    def __init__(self, store: ThreadStore | None, mode: Mode) -> None:
        self.store = store
        self.ctx: RunContext | None = None  # set once the agent has prepared the run
        self.mode = mode
        self.events = mode is not Mode.RAW
        self.chunk_events = mode is Mode.EVENTS
        self.started = time.perf_counter()
        self.thread: Thread | None = None
        self.turn: _Turn | None = None
        self.pending_tool_calls: list[ToolCall] = []
        self.tool_messages: dict[str, Message] = {}
        self.usage: TokenUsage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.new_messages: list[Message] = []
        self.awaiting: set[str] = set()  # tool call ids waiting for approval
        self.awaiting_owner: Message | None = None  # the assistant message that made them
        self.output: OutputSpec | None = None  # structured output asked for (response_type)
        self.structured: Any = None
        self.context_budget: int | None = None  # set tighter after a provider refused a request as too long
        self.last_plan: ContextPlan | None = None
        # The repeat-call guard (Agent.refuse_repeated_tool_calls): calls run so far in this run.
        self.refuse_repeats = False
        self.calls_run: set[tuple[str, str]] = set()
        self.withhold_tools = False

    async def save(self) -> None:
        if self.store is not None and self.thread is not None:
            await self.store.save_thread(self.thread)

    def add(self, message: Message) -> Message:
        assert self.thread is not None
        self.thread.add_message(message)
        self.new_messages.append(message)
        return message

    async def interrupted(self, error: Exception | None = None) -> None:
        """The run stopped early (consumer gone, or `error`): keep what the user saw, leave the
        thread valid for the next run (every tool call answered), and save."""
        turn, self.turn = self.turn, None
        if turn is not None and not turn.empty and self.ctx is not None:
            message = self.add(turn.to_message(self.ctx.model_name, interrupted=True))
            if error is not None:  # "error" is True on every failed message; the reason is beside it
                message.attributes.update(error=True, error_type=type(error).__name__, error_message=str(error))
        owner, self.awaiting_owner = self.awaiting_owner, None
        if owner is not None and self.awaiting:  # still waiting: left unanswered, the next run asks again
            owner.attributes[AWAITING] = sorted(self.awaiting)
        elif owner is not None:
            owner.attributes.pop(AWAITING, None)
        for call in self.pending_tool_calls:
            msg = self.tool_messages.get(call["id"])
            if msg is None and call["id"] in self.awaiting:
                continue
            if msg is None:
                msg = Message(
                    role="tool", name=call["function"]["name"], tool_call_id=call["id"],
                    content="The tool call was cancelled before it finished.", interrupted=True,
                    attributes={"error": True, "cancelled": True},
                )
            self.add(msg)
        self.pending_tool_calls = []
        await self.save()


async def execute(
    thread: Thread | str,
    mode: Mode,
    *,
    store: ThreadStore | None,
    prepare: Callable[[], Awaitable[RunContext]],
) -> AsyncGenerator[Any, None]:
    """The agent loop. Yields ExecutionEvents (EVENTS/RESULT) or RawChunks (RAW).

    The thread is loaded (from `store` when given an id) before `prepare()` builds the run's
    frozen context, so a bad thread fails before any MCP server is started.
    """
    state = _Run(store, mode)
    completed = False
    try:
        state.thread = await _load_thread(store, thread)
        ctx = state.ctx = await prepare()
        del prepare  # the agent's closure and its cells need not live as long as the run
        state.output = ctx.output
        state.refuse_repeats = ctx.refuse_repeated_tool_calls
        await state.save()
        async with aclosing(_resume_approvals(state, ctx)) as items:
            async for item in items:
                yield item
        # try/finally rather than aclosing() on the per-chunk path (here, _iterations, _model_turn):
        # each open stream would keep an aclosing object and its bound __aexit__ per level.
        items = _iterations(state, ctx)
        try:
            async for item in items:
                yield item
        finally:
            await items.aclose()
        completed = True
        if state.events:
            yield _ev(_E.EXECUTION_COMPLETE, {
                "duration_ms": (time.perf_counter() - state.started) * 1000,
                "total_tokens": state.usage.get("total_tokens", 0),
                "usage": state.usage.copy(),
                "thread_id": state.thread.id,
                "thread": state.thread,
                "new_messages": list(state.new_messages),
                # Always present (None / []) so the payload has one shape; set with response_type.
                "structured_data": state.structured,
                "retry_history": list(state.output.history) if state.output is not None else [],
                "finish_reason": _last_finish_reason(state.new_messages),
            })
    except Exception as exc:
        completed = True
        error = exc if isinstance(exc, TylerError) else ExecutionError(f"{type(exc).__name__}: {exc}")
        if error is not exc:
            error.__cause__ = exc  # events mode hands the error out without raising it
        await _save_quietly(state, error)
        if mode is not Mode.EVENTS:
            if error is exc:
                raise
            raise error from exc
        yield _ev(_E.EXECUTION_ERROR, {
            "error_type": type(exc).__name__,
            "message": str(exc),
            "exception": error,
            "duration_ms": (time.perf_counter() - state.started) * 1000,
        })
    finally:
        if not completed and state.thread is not None:
            await asyncio.shield(state.interrupted())


def _last_finish_reason(messages: list[Message]) -> str | None:
    """How the run's last model reply ended ("length": cut at the token limit)."""
    for message in reversed(messages):
        if message.role == "assistant":
            return message.attributes.get("finish_reason")
    return None


async def _save_quietly(state: _Run, error: Exception) -> None:
    """After a failure, still keep the partial answer; a second failure is noted, not lost."""
    try:
        await state.interrupted(error)
    except Exception as exc:
        if exc is not error:
            error.add_note(f"saving the thread after the failure also failed: {exc!r}")


async def _load_thread(store: ThreadStore | None, thread: Thread | str) -> Thread:
    if isinstance(thread, Thread):
        loaded = thread
    elif isinstance(thread, str):
        if store is None:
            raise ConfigurationError("a thread id needs Agent(thread_store=...) to load it from")
        loaded = await store.get_thread(thread)
    else:
        raise ConfigurationError(f"expected a Thread or a thread id, got {type(thread).__name__}")
    if not loaded.messages:
        raise ConfigurationError(f"thread {loaded.id!r} has no messages to respond to")
    await load_contents(a for m in loaded.messages for a in m.attachments)  # providers build requests synchronously
    return loaded


# The refused-request retry stays inline: a helper generator around _model_turn costs a hop per chunk.
async def _iterations(state: _Run, ctx: RunContext) -> AsyncGenerator[Any, None]:  # noqa: C901
    limit = ctx.max_tool_iterations
    for iteration in range(1, limit + 1):
        if state.events:
            yield _ev(_E.ITERATION_START, {"iteration_number": iteration, "max_iterations": limit})
        for attempt in range(1, 3):  # a range iterator is not GC-tracked, a tuple's is (kept per stream)
            try:
                items = _model_turn(state, ctx, iteration)
                try:
                    async for item in items:
                        yield item
                finally:
                    await items.aclose()
                break
            except ContextLengthError as exc:
                if attempt == 2 or not await _shorten_after_refusal(state, ctx, exc):
                    raise
        message = state.new_messages[-1]
        verdict = _verdict(state, message)
        if verdict is not None:  # an answer attempt for response_type
            async with aclosing(_structured_answer(state, verdict)) as items:
                async for item in items:
                    yield item
            if verdict.ok:
                return
            continue
        if not message.tool_calls:
            return
        server_calls = [c for c in message.tool_calls if not _client_side(ctx, c)]
        if server_calls:
            async with aclosing(_run_tools(state, ctx, server_calls, message)) as items:
                async for item in items:
                    yield item
        if len(server_calls) < len(message.tool_calls):
            state.pending_tool_calls = []  # the client owes these results, on its next request
            return
    if state.events:
        yield _ev(_E.ITERATION_LIMIT, {"iterations_used": limit})
    note = Message(
        role="assistant",
        content=f"Stopped after {limit} tool iterations (max_tool_iterations).",
        attributes={"iteration_limit": True},
    )
    state.add(note)
    await state.save()
    if state.events:
        yield _ev(_E.MESSAGE_CREATED, {"message": note})
    if state.output is not None:
        raise StructuredOutputError(
            f"no valid {state.output.model.__name__} within max_tool_iterations={ctx.max_tool_iterations}",
            retry_history=list(state.output.history),
        )
    if state.mode is Mode.RAW:
        # A proxy's client would otherwise see the stream end right after finish_reason="tool_calls",
        # with no sign that the run was cut off; it gets the note the thread got.
        yield RawChunk.build(f"chatcmpl-{note.id}", ctx.model_name,
                             {"role": "assistant", "content": note.content}, "stop")


def _client_side(ctx: RunContext, call: ToolCall) -> bool:
    tool = ctx.tools.get(call["function"]["name"])
    return tool is not None and tool.client


def _verdict(state: _Run, message: Message) -> Verdict | None:
    return state.output.judge(message) if state.output is not None else None


async def _resume_approvals(state: _Run, ctx: RunContext) -> AsyncGenerator[ExecutionEvent, None]:
    """A run stopped while calls waited for approval: ask again, then run them."""
    assert state.thread is not None
    resumed = _awaiting_calls(state.thread)
    if resumed is not None:
        async with aclosing(_run_tools(state, ctx, resumed[1], resumed[0])) as items:
            async for item in items:
                yield item


def _awaiting_calls(thread: Thread) -> tuple[Message, list[ToolCall]] | None:
    """The unanswered calls of a last assistant message left waiting for approval, if any."""
    messages = thread.messages
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.role == "tool":
            continue
        if m.role != "assistant" or not m.tool_calls or not m.attributes.get(AWAITING):
            return None
        answered = {t.tool_call_id for t in messages[i + 1:]}
        calls = [c for c in m.tool_calls if c["id"] not in answered]
        return (m, calls) if calls else None
    return None


async def _structured_answer(state: _Run, verdict: Verdict) -> AsyncGenerator[ExecutionEvent, None]:
    """Record an answer attempt (tool answers, feedback); end the run or retry per RetryConfig."""
    assert state.output is not None
    for message in verdict.messages:
        state.add(message)
    state.pending_tool_calls = []
    await state.save()
    if state.events:
        for message in verdict.messages:
            yield _ev(_E.MESSAGE_CREATED, {"message": message})
    if verdict.ok:
        state.structured = verdict.value
        return
    error = state.output.give_up()
    retries = len(state.output.history)
    if state.events:
        yield _ev(_E.STRUCTURED_OUTPUT_INVALID, {
            "attempt": retries, "output": verdict.raw, "errors": verdict.errors or [], "will_retry": error is None,
        })
    if error is not None:
        raise error
    delay = state.output.retry.delay(retries)
    if delay:
        await asyncio.sleep(delay)


# The per-chunk hot loop stays inline: a helper call per chunk costs more than it reads better.
async def _model_turn(state: _Run, ctx: RunContext, iteration: int) -> AsyncGenerator[Any, None]:  # noqa: C901
    assert state.thread is not None
    messages = state.thread.messages
    if ctx.context is not None:
        plan = state.last_plan = await ctx.context.plan(
            ctx.provider, state.thread, ctx.system_prompt, ctx.tool_specs, ctx.settings, budget=state.context_budget
        )
        messages = plan.messages
        if plan.changed and state.events:
            yield _ev(_E.CONTEXT_TRIMMED, plan.report(ctx.context.strategy))
    # After a refused repeat the model answers from the results it has: no tools on this turn.
    withhold, state.withhold_tools = state.withhold_tools, False
    request = ModelRequest(
        model=ctx.model_name,
        messages=answered(messages),
        system=ctx.system_prompt,
        tools=[] if withhold else list(ctx.tool_specs),
        settings=ctx.settings,
    )
    output_tool = None
    if state.output is not None:
        state.output.shape(request)
        output_tool = None if state.output.native else OUTPUT_TOOL
    if state.events:
        yield _ev(_E.LLM_REQUEST, {
            "message_count": len(request.messages) + (1 if request.system else 0),
            "model": ctx.model_name,
            "iteration": iteration,
            "tool_count": len(request.tools),
        })
    turn = state.turn = _Turn()
    mid = turn.message_id
    raw = state.mode is Mode.RAW
    chunk_events = state.chunk_events
    text = turn.text
    chunks = ctx.provider.stream(request)
    try:
        async for c in chunks:
            if c.text:
                if turn.first_token_at is None:
                    turn.first_token_at = time.perf_counter()
                text.append(c.text)
                if chunk_events:  # built inline, not through _ev: a call per chunk costs (payload: LLMStreamChunkData)
                    yield ExecutionEvent(_E.LLM_STREAM_CHUNK, None, {"content_chunk": c.text, "message_id": mid})
            if c.thinking or c.thinking_signature or c.redacted_thinking:
                turn.add_thinking(c)
                if chunk_events and c.thinking:
                    yield _ev(_E.LLM_THINKING_CHUNK, {
                        "thinking_chunk": c.thinking, "thinking_type": c.thinking_type or "reasoning",
                        "message_id": mid,
                    })
            if c.tool_calls:
                for delta in c.tool_calls:
                    ev = _add_tool_delta(turn, delta, output_tool)
                    if chunk_events and ev is not None:
                        yield ev
            if c.usage is not None:
                turn.usage = c.usage.as_dict()
            if c.finish_reason:
                turn.finish_reason = c.finish_reason
            if raw and c.raw is not None:  # after accounting: a consumer that stops here keeps it
                yield RawChunk(c.raw)
    finally:
        await chunks.aclose()
    message = turn.to_message(ctx.model_name)
    state.turn = None
    state.add(message)
    if message.tool_calls:
        # Owed an answer from here on: a consumer that stops before the tools start (say on this
        # MESSAGE_CREATED) must still leave a thread the provider accepts on the next run.
        state.pending_tool_calls = list(message.tool_calls)
        state.tool_messages = {}
    if turn.usage:
        _add_usage(state.usage, turn.usage)
    await state.save()
    if state.events:
        yield _ev(_E.LLM_RESPONSE, {
            "content": message.content,
            "tool_calls": message.tool_calls,
            "reasoning_content": message.reasoning_content,
            "tokens": turn.usage or {},
            "latency_ms": message.metrics["timing"]["latency"],
            "finish_reason": turn.finish_reason,
            "message_id": mid,
        })
        yield _ev(_E.MESSAGE_CREATED, {"message": message})


def _add_usage(total: TokenUsage, usage: TokenUsage) -> None:
    """Add one response's token counts to the run's sums (the three counts the run reports)."""
    total["prompt_tokens"] = total.get("prompt_tokens", 0) + usage.get("prompt_tokens", 0)
    total["completion_tokens"] = total.get("completion_tokens", 0) + usage.get("completion_tokens", 0)
    total["total_tokens"] = total.get("total_tokens", 0) + usage.get("total_tokens", 0)


async def _shorten_after_refusal(state: _Run, ctx: RunContext, error: ContextLengthError) -> bool:
    """The provider refused the request as too long before anything streamed: retry it shorter?"""
    turn = state.turn
    if ctx.context is None or (turn is not None and not turn.empty) or state.thread is None:
        return False
    budget = await ctx.context.tighter_budget(ctx.provider, state.thread, error, state.last_plan)
    if budget is None:
        return False
    state.turn = None
    state.context_budget = budget
    return True


def _add_tool_delta(turn: _Turn, delta: Any, output_tool: str | None = None) -> ExecutionEvent | None:
    call = turn.tool_calls.get(delta.index)
    if call is not None and not (delta.arguments or delta.id or delta.name):
        return None  # an empty piece: nothing new to report
    if call is None:
        call = turn.tool_calls[delta.index] = {"id": None, "name": None, "args": []}
        if turn.first_token_at is None:
            turn.first_token_at = time.perf_counter()
    if delta.id:
        call["id"] = delta.id
    if delta.name and not call["name"]:
        call["name"] = delta.name
    if delta.arguments:
        call["args"].append(delta.arguments)
    if output_tool is not None and call["name"] == output_tool:
        # The structured answer being written: partial JSON, as text deltas like a native JSON mode's.
        if not delta.arguments:
            return None
        return ExecutionEvent(_E.LLM_STREAM_CHUNK, None,
                              {"content_chunk": delta.arguments, "message_id": turn.message_id})
    return _ev(_E.LLM_TOOL_CALL_CHUNK, {
        "tool_call_id": call["id"], "index": delta.index, "tool_name": call["name"],
        "arguments_delta": delta.arguments, "message_id": turn.message_id,
    })


async def _run_tools(
    state: _Run, ctx: RunContext, calls: list[ToolCall], owner: Message
) -> AsyncGenerator[ExecutionEvent, None]:
    """Run the turn's tool calls concurrently; report each as it finishes; keep the model's order.

    `owner` is the assistant message that made the calls; it lists the calls waiting for approval
    (saved before APPROVAL_REQUESTED is seen, so a stopped run can be resumed from the store).
    """
    state.pending_tool_calls = list(calls)
    state.tool_messages = {}
    progress: asyncio.Queue[ExecutionEvent] = asyncio.Queue(_PROGRESS_BUFFER)
    tasks: dict[asyncio.Future[Any], tuple[ToolCall, Tool, float]] = {}
    try:
        started = [ev for call in calls for ev in _start_tool(state, ctx, call, progress, tasks)]
        if state.awaiting:
            state.awaiting_owner = owner
            owner.attributes[AWAITING] = sorted(state.awaiting)
            await state.save()
        if state.events:
            for ev in started:
                yield ev
        async for ev in _await_tools(state, ctx, progress, tasks):
            if state.events:
                yield ev
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await _settle(tasks)
        if ctx.approvals is not None:  # a task cancelled before it started never closed its request
            for call_id in state.awaiting:
                ctx.approvals.discard(call_id)
    ordered = [state.tool_messages[c["id"]] for c in calls]
    if state.refuse_repeats and all(m.attributes.get("error") for m in ordered):
        state.withhold_tools = True  # nothing worked: a looping model would only guess again
    state.pending_tool_calls = []
    owner.attributes.pop(AWAITING, None)
    state.awaiting_owner = None
    for msg in ordered:
        state.add(msg)
    await state.save()
    if state.events:
        for msg in ordered:
            yield _ev(_E.MESSAGE_CREATED, {"message": msg})


def _start_tool(
    state: _Run,
    ctx: RunContext,
    call: ToolCall,
    progress: asyncio.Queue[ExecutionEvent],
    tasks: dict[asyncio.Future[Any], tuple[ToolCall, Tool, float]],
) -> list[ExecutionEvent]:
    name = call["function"]["name"]
    call_id = call["id"]
    raw_args = call["function"]["arguments"]
    tool = ctx.tools.get(name)
    out = []
    try:
        if tool is None:
            raise ToolArgumentsError(f"unknown tool {name!r}; available: {', '.join(ctx.tools) or 'none'}")
        args = tool.parse_arguments(raw_args)
        approval = needs_approval(tool.requires_approval, args)
    except Exception as exc:  # bad arguments, or the approval predicate itself failed
        error_type = type(exc).__name__
        message = str(exc) if isinstance(exc, ToolArgumentsError) else f"requires_approval failed: {error_type}: {exc}"
        out.append(_ev(_E.TOOL_SELECTED, {"tool_name": name, "arguments": raw_args, "tool_call_id": call_id}))
        out.append(_tool_failed(state, call, message, error_type, 0.0))
        return out
    out.append(_ev(_E.TOOL_SELECTED, {"tool_name": name, "arguments": args, "tool_call_id": call_id}))
    if state.refuse_repeats and _is_repeat(state, name, args):
        state.withhold_tools = True
        out.append(_tool_failed(state, call, _REPEAT_NOTE.format(name=name), "RepeatedToolCall", 0.0))
        return out

    async def sink(value: float, total: float | None, message: str | None) -> None:
        if state.events:
            await progress.put(_ev(_E.TOOL_PROGRESS, {
                "tool_name": name, "tool_call_id": call_id, "progress": value, "total": total, "message": message,
            }))

    async def forward(event: ExecutionEvent) -> None:  # a delegated agent's events, in order
        if state.chunk_events:
            await progress.put(event)

    timeout = ctx.timeout_for(tool)
    tool_ctx = ToolContext(name, call_id, state.thread, ctx.owner, sink, forward)
    if approval and ctx.approvals is None:  # nobody to ask: never run it unapproved
        out.append(_tool_failed(state, call, "the call needs approval and this run cannot ask", "ApprovalDenied", 0.0))
        return out
    if approval and ctx.approvals is not None:
        assert state.thread is not None
        request = ApprovalRequest(call_id, name, args, state.thread.id)
        ctx.approvals.open(request)
        state.awaiting.add(call_id)
        coro = _approved_call(state, ctx.approvals, request, tool, tool_ctx, limit=timeout, progress=progress)
        tasks[asyncio.ensure_future(coro)] = (call, tool, time.perf_counter())
        out.append(_ev(_E.APPROVAL_REQUESTED, {"tool_name": name, "tool_call_id": call_id, "arguments": args}))
        return out
    task = asyncio.ensure_future(_invoke(tool, args, tool_ctx, timeout))
    tasks[task] = (call, tool, time.perf_counter())
    out.append(_ev(_E.TOOL_EXECUTING, {"tool_name": name, "tool_call_id": call_id, "arguments": args}))
    return out


async def _approved_call(
    state: _Run, approvals: Approvals, request: ApprovalRequest, tool: Tool, ctx: ToolContext, *,
    limit: float | None, progress: asyncio.Queue[ExecutionEvent],
) -> Any:
    """Wait for the decision on a call, then run it (its time limit starts once approved)."""
    approved, reason = await approvals.wait(request)
    state.awaiting.discard(request.tool_call_id)
    name, call_id = request.tool_name, request.tool_call_id
    if state.events:
        await progress.put(_ev(_E.APPROVAL_RESOLVED, {
            "tool_name": name, "tool_call_id": call_id, "approved": approved, "reason": reason,
        }))
    if not approved:
        raise ApprovalDenied(reason)
    if state.events:
        await progress.put(_ev(_E.TOOL_EXECUTING, {
            "tool_name": name, "tool_call_id": call_id, "arguments": request.arguments,
        }))
    coro = tool.call(request.arguments, ctx)
    return await (asyncio.wait_for(coro, limit) if limit else coro)


async def _invoke(tool: Tool, args: dict[str, Any], tool_ctx: ToolContext, limit: float | None) -> Any:
    # The tool's coroutine is made here, inside the task: a task cancelled before it first runs
    # (the consumer left right after TOOL_EXECUTING) then leaves no coroutine never awaited.
    if not limit:
        return await tool.call(args, tool_ctx)
    async with asyncio.timeout(limit):
        return await tool.call(args, tool_ctx)


# How long a stopping run waits for its cancelled tools. A tool that ignores cancellation (catches
# CancelledError and goes on) is left to finish in the background instead of holding the
# consumer's `break` until it does.
TOOL_CANCEL_GRACE = 1.0
_abandoned: set[asyncio.Future[Any]] = set()


async def _settle(tasks: dict[asyncio.Future[Any], Any]) -> None:
    _done, pending = await asyncio.wait(tasks, timeout=TOOL_CANCEL_GRACE)
    for task in pending:
        log.warning("a cancelled tool call still runs after %.1f s; the run stops without it", TOOL_CANCEL_GRACE)
        _abandoned.add(task)  # referenced until it ends; its outcome is retrieved, never raised
        task.add_done_callback(_forget)


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()
_REPEAT_NOTE = (
    "not run: {name} was already called with these arguments in this run, and its result is above. "
    "Answer the user from that result."
)


def _is_repeat(state: _Run, name: str, args: dict[str, Any]) -> bool:
    """True when this exact call already ran in this run; otherwise remember it."""
    key = (name, json.dumps(args, sort_keys=True, default=str))
    if key in state.calls_run:
        return True
    state.calls_run.add(key)
    return False


def _tool_failed(state: _Run, call: ToolCall, error: str, error_type: str, ms: float) -> ExecutionEvent:
    name = call["function"]["name"]
    state.tool_messages[call["id"]] = Message(
        role="tool", name=name, tool_call_id=call["id"], content=f"Error: {error}",
        metrics={"timing": {"latency": round(ms, 3)}}, attributes={"error": True, "error_type": error_type},
    )
    return _ev(_E.TOOL_ERROR, {
        "tool_name": name, "tool_call_id": call["id"], "error": error, "error_type": error_type, "duration_ms": ms,
    })


async def _await_tools(
    state: _Run,
    ctx: RunContext,
    progress: asyncio.Queue[ExecutionEvent],
    tasks: dict[asyncio.Future[Any], tuple[ToolCall, Tool, float]],
) -> AsyncGenerator[ExecutionEvent, None]:
    pending: set[asyncio.Future[Any]] = set(tasks)
    getter: asyncio.Task[ExecutionEvent] | None = None
    try:
        while pending:
            if getter is None:
                getter = asyncio.ensure_future(progress.get())
            done, _ = await asyncio.wait(pending | {getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                getter = None
            for task in done:
                if task is not getter and task in pending:
                    pending.discard(task)
                    # Progress a tool reported before returning must not arrive after its result.
                    while not progress.empty():
                        yield progress.get_nowait()
                    call, tool, started = tasks[task]
                    yield _tool_done(state, ctx, call, tool, started=started, task=task)
        while not progress.empty():
            yield progress.get_nowait()
    finally:
        if getter is not None:
            getter.cancel()


def _tool_done(
    state: _Run, ctx: RunContext, call: ToolCall, tool: Tool, *, started: float, task: asyncio.Future[Any]
) -> ExecutionEvent:
    ms = (time.perf_counter() - started) * 1000
    if task.cancelled():  # the tool raised CancelledError itself: the run was not cancelled
        return _tool_failed(state, call, f"tool {tool.name!r} was cancelled", "CancelledError", ms)
    exc = task.exception()
    if isinstance(exc, TimeoutError):
        timeout = ctx.timeout_for(tool)
        return _tool_failed(state, call, f"tool {tool.name!r} timed out after {timeout:g}s", "TimeoutError", ms)
    if exc is not None:
        return _tool_failed(state, call, f"{type(exc).__name__}: {exc}", type(exc).__name__, ms)
    result = tool_output_text(task.result())
    state.tool_messages[call["id"]] = Message(
        role="tool", name=tool.name, tool_call_id=call["id"], content=result,
        metrics={"timing": {"latency": round(ms, 3)}},
    )
    return _ev(_E.TOOL_RESULT, {
        "tool_name": tool.name, "tool_call_id": call["id"], "result": result, "duration_ms": ms,
    })
