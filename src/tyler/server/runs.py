"""Runs on the server: the one place an agent run becomes encoded frames, and the table of live runs.

`frames(agent, thread, encoder)` pulls the agent's `ExecutionEvent`s and hands each to a protocol
`Encoder`, yielding wire text. Every endpoint (SSE, non-streaming, WebSocket) drives its run through
it, so a run log (resumable runs) can be put between the run and the response in one place.

`RunRegistry` knows the runs in progress in this process: `POST /v1/runs/{id}/cancel` finds them
there, and it enforces the per-key limit on concurrent runs (429). `Runs` is the server's
`tyler.runs.RunManager` (resumable runs), and `EventsEncoder` the native SSE encoder: both live
here, below the endpoint modules (native, resume) that share them, so neither imports the other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..context import REPLACED
from ..events import EventType, ExecutionEvent
from ..exceptions import RequestError, ThreadNotFoundError
from ..messages import Message, Thread, check_id
from ._http import dumps

if TYPE_CHECKING:
    from ..agent import Agent
    from ..runs import RunManager
    from ..storage import ThreadStore


class Encoder(Protocol):
    """Turns a run's events into one protocol's wire text ("" when an event shows nothing)."""

    def start(self) -> str:
        """What the stream opens with, before the first event."""
        ...

    def event(self, event: ExecutionEvent) -> str:
        """The frames for one event; the terminal event's frames end the stream."""
        ...

    def cancelled(self) -> str:
        """The stream's ending after an explicit cancel (the run is closed and saved by then)."""
        ...


def cancelled_event() -> ExecutionEvent:
    """The terminal event of an explicitly cancelled run (every stream has exactly one)."""
    return ExecutionEvent(EventType.EXECUTION_ERROR, datetime.now(UTC), {
        "error_type": "RunCancelledError", "message": "the run was cancelled", "exception": None,
    })


class EventsEncoder:
    """Events → SSE frames with `id:`, `event:` and the event's JSON."""

    def __init__(self) -> None:
        self.count = 0

    def start(self) -> str:
        return ""

    def event(self, event: ExecutionEvent) -> str:
        self.count += 1
        return f"id: {self.count}\nevent: {event.type.value}\ndata: {dumps(event.to_dict())}\n\n"

    def cancelled(self) -> str:
        return self.event(cancelled_event())


class Runs:
    """The server's RunManager, opened on first use (also when the ASGI lifespan is off)."""

    def __init__(self, manager: RunManager) -> None:
        self.manager = manager
        self._opened = False
        self._lock: asyncio.Lock | None = None

    async def get(self) -> RunManager:
        if not self._opened:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if not self._opened:
                    await self.manager.open()
                    self._opened = True
        return self.manager

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.manager.close()


async def frames(agent: Agent, thread: Thread, encoder: Encoder) -> AsyncGenerator[str, None]:
    """Run `agent` on `thread`, yielding `encoder`'s text for each event.

    Closing this generator (disconnect, cancel) closes the run: the upstream model request is
    closed and what was produced so far is saved, marked interrupted.
    """
    opening = encoder.start()
    if opening:
        yield opening
    async with aclosing(agent.stream(thread)) as events:
        async for event in events:
            text = encoder.event(event)
            if text:
                yield text


async def drive(handle: RunHandle, agent: Agent, thread: Thread, encoder: Encoder,
                send: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Run to the end in the current task, handing each frame to `send`.

    An explicit cancel (`handle.cancel()`) stops the run and sends the encoder's ending instead of
    raising; any other cancellation (the client left) propagates.
    """
    task = asyncio.current_task()
    handle.task = task
    try:
        async with aclosing(frames(agent, thread, encoder)) as items:  # a failed send closes the run too
            async for text in items:
                if send is not None:
                    await send(text)
    except asyncio.CancelledError:
        if not handle.cancel_requested or task is None:
            raise
        task.uncancel()
        tail = encoder.cancelled()
        if send is not None and tail:
            await send(tail)


@dataclass(eq=False)
class RunHandle:
    """One run in progress: what cancelling it needs."""

    id: str
    thread_id: str
    key: str
    task: asyncio.Future[Any] | None = None
    cancel_requested: bool = False
    model: str | None = None  # the model id the client asked for (a queued run is started by it elsewhere)

    def cancel(self) -> None:
        """Stop the run: the task driving it is cancelled; the stream ends in the protocol's way."""
        self.cancel_requested = True
        if self.task is not None:
            self.task.cancel()


@dataclass
class RunRegistry:
    """Live runs of this process, by id; at most `max_runs_per_key` at once per API key."""

    max_runs_per_key: int = 16
    _runs: dict[str, RunHandle] = field(default_factory=dict)
    _per_key: dict[str, int] = field(default_factory=dict)

    def open(self, key: str, thread_id: str, run_id: str | None = None, model: str | None = None) -> RunHandle:
        if self._per_key.get(key, 0) >= self.max_runs_per_key:
            raise RequestError(
                f"too many concurrent runs for this API key (limit {self.max_runs_per_key}); retry when one ends",
                status=429, code="too_many_runs",
            )
        handle = RunHandle(run_id or f"run_{uuid.uuid4().hex}", thread_id, key, model=model)
        self._runs[handle.id] = handle
        self._per_key[key] = self._per_key.get(key, 0) + 1
        return handle

    def release(self, handle: RunHandle) -> None:
        if self._runs.pop(handle.id, None) is not None:
            left = self._per_key[handle.key] - 1
            if left:
                self._per_key[handle.key] = left
            else:
                del self._per_key[handle.key]

    def get(self, run_id: str) -> RunHandle | None:
        return self._runs.get(run_id)

    def __len__(self) -> int:
        return len(self._runs)


async def load_thread(store: ThreadStore, thread_id: str) -> Thread:
    """The stored thread; RequestError 404 if there is none."""
    thread_id_param(thread_id, "thread_id", status=404)
    try:
        return _live(await store.get_thread(thread_id))
    except ThreadNotFoundError:
        raise RequestError(f"no thread with id {thread_id!r}", status=404, code="thread_not_found") from None


def _live(thread: Thread) -> Thread:
    """The conversation as every endpoint sees it: replies marked REPLACED stay stored (the store is
    append-only) but are left out of the thread the server runs on and shows."""
    if any(m.attributes.get(REPLACED) for m in thread.messages):
        thread.messages[:] = [m for m in thread.messages if not m.attributes.get(REPLACED)]
    return thread


async def replace_tail(store: ThreadStore, thread: Thread, start: int, reason: str) -> int:
    """Replace `thread.messages[start:]` (a regenerated or edited turn): each is marked REPLACED
    (`{"reason", "at"}`) and saved, so the store keeps it as history, then dropped from `thread`.
    Marked messages are never sent to a model again (`tyler.context.sendable`) and the server's
    views leave them out; the thread so never holds two live answers to one question.
    Returns how many messages were replaced."""
    tail = thread.messages[start:]
    if not tail:
        return 0
    at = datetime.now(UTC).isoformat()
    for message in tail:
        message.attributes[REPLACED] = {"reason": reason, "at": at}
    await store.save(thread, full=True)  # the marks are written before the messages leave the list
    del thread.messages[start:]
    return len(tail)


MAX_THREAD_ID = 256


def thread_id_param(value: Any, param: str, *, status: int = 400) -> str:
    """A client-given thread id, or RequestError: 1 to 256 characters the store can hold."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_THREAD_ID:
        raise RequestError(f"'{param}' must be a thread id of 1 to {MAX_THREAD_ID} characters", param=param,
                           status=status, code="invalid_thread_id")
    try:
        return check_id(value, param)
    except ValueError as exc:
        raise RequestError(str(exc), param=param, status=status, code="invalid_thread_id") from None


async def stored_or_new(store: ThreadStore, thread_id: str | None) -> Thread:
    """The stored thread `thread_id`, or a new thread (with that id, when one is given)."""
    if thread_id is not None:
        thread_id_param(thread_id, "thread_id")
    thread = await store.get(thread_id) if thread_id else None
    if thread is None:
        return Thread(id=thread_id) if thread_id else Thread()
    return _live(thread)


def regenerated_at(thread: Thread, messages: list[Message]) -> int | None:
    """Where a client that resends its whole conversation (Chat Completions, Responses without
    `previous_response_id`, AG-UI) asks for a reply again: its user messages before its last
    assistant message are the stored thread's first ones but fewer, and its one new message is the
    next stored question, unchanged (Open WebUI's "regenerate" with a thread id). Returns the
    index after that stored question (the reply to cut, see `replace_tail`), or None: the client
    continues the thread. A changed question is appended, not taken as an edit: a client whose
    copy of the conversation is stale (another client went on) looks the same, and must not
    replace the other client's turns."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    if last < 0 or len(messages) != last + 2 or messages[-1].role != "user":
        return None
    told = [m.text for m in messages[:last + 1] if m.role == "user"]
    asked = [i for i, m in enumerate(thread.messages) if m.role == "user"]
    if len(told) >= len(asked) or [thread.messages[i].text for i in asked[:len(told)]] != told:
        return None
    at = asked[len(told)]
    return at + 1 if thread.messages[at].text == messages[-1].text else None


def owed_tool_calls(thread: Thread) -> dict[str, str]:
    """Tool calls of the thread's last assistant message that no tool message answers yet (id → name)."""
    answered: set[str | None] = set()
    for message in reversed(thread.messages):
        if message.role == "tool":
            answered.add(message.tool_call_id)
        elif message.role == "assistant":
            return {c["id"]: c["function"]["name"] for c in message.tool_calls or [] if c["id"] not in answered}
        else:
            return {}
    return {}


def append_turn(thread: Thread, messages: list[Message]) -> None:
    """Add a client's messages to `thread`, refusing what would break the next model request:
    tool results for calls nobody made, or other messages while tool results are still owed."""
    if not messages:
        raise RequestError("no new message to respond to", code="empty_messages", param="messages")
    owed = owed_tool_calls(thread)
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id not in owed:
                raise RequestError(
                    f"tool result for unknown tool call {message.tool_call_id!r}", code="unknown_tool_call",
                    param="tool_call_id",
                )
            message.name = message.name or owed.pop(message.tool_call_id)
            continue
        if owed:
            raise RequestError(
                f"the conversation is waiting for tool results first: {sorted(owed)}", code="tool_results_missing",
            )
        if message.role == "assistant" and message.tool_calls:
            owed = {c["id"]: c["function"]["name"] for c in message.tool_calls}
    if owed:
        raise RequestError(f"tool results missing for {sorted(owed)}", code="tool_results_missing")
    for message in messages:
        thread.add_message(message)
