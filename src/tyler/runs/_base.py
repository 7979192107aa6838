"""The run-log contract: what a backend stores per run and the values readers get back.

A run log is an append-only, per-run sequence of encoded `ExecutionEvent`s with increasing ids
(the SSE `id:`s), plus a small status record. The last entry of every finished run is its one
terminal event (EXECUTION_COMPLETE or EXECUTION_ERROR); writing it and setting the final status is
one atomic step, and only the run's owner may write, so a run never gets two terminal events even
when a worker presumed dead comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from ..events import EventType, ExecutionEvent
from ..exceptions import EventIdError, RunLogError
from ..messages import Message, Thread

_RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TERMINAL = frozenset({EventType.EXECUTION_COMPLETE.value, EventType.EXECUTION_ERROR.value})


class RunStatus(StrEnum):
    """Where a run is. QUEUED (waiting for a worker to take it) and RUNNING change; the others are final."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run request taken from the shared queue: `entry` is its queue id (for `ack`), `job` the
    JSON its submitter gave (what the worker's runner needs to start the run)."""

    entry: str
    run_id: str
    job: str


class Wakeup:
    """Readers of a log wait here for its next entry: one future per waiting reader, which is
    cheaper than a new `asyncio.Event` per entry. A wait that times out or is cancelled removes its
    future, so the readers of a run that stays quiet for long collect nothing."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def waiting(self) -> int:
        """How many readers wait now."""
        return len(self._waiters)

    def set(self) -> None:
        """Wake every reader waiting now (a later one waits for the next `set`)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, block: float) -> None:
        """Until the next `set`, or `block` seconds (no error: the caller looks again)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(block):  # no task per wait, unlike wait_for
                await waiter
        except TimeoutError:
            pass
        finally:
            if not waiter.done() or waiter.cancelled():  # timed out or cancelled, not woken
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One stored event: `id` is its position in the run's log, `type` an `EventType` value,
    `data` the event as the library's `--json` output has it (a JSON object text), `seq` its
    1-based number in the run (readers use it to prove they skipped nothing)."""

    id: str
    type: str
    data: str
    seq: int

    @property
    def is_terminal(self) -> bool:
        return self.type in _TERMINAL

    def event(self) -> ExecutionEvent:
        """The `ExecutionEvent` back, with `Message`/`Thread` values rebuilt (exceptions stay text)."""
        return decode_event(self.data)


@dataclass(slots=True)
class RunInfo:
    """A run's status record."""

    run_id: str
    status: RunStatus
    owner: str
    created_at: float
    finished_at: float | None = None
    error: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id, "status": self.status.value, "worker": self.owner,
            "created_at": self.created_at, "finished_at": self.finished_at, "error": self.error,
            "metadata": dict(self.metadata),
        }


class RunLog(Protocol):
    """What `RunManager` needs from a backend (`MemoryRunLog`, `RedisRunLog`).

    Writers: `create` (this worker becomes the owner), `append`, `finish` — the last two raise
    `RunOwnershipError` when this worker is no longer the owner of a running run. Readers: `read`
    (entries strictly after an id, waiting up to `block` seconds for the first one; `block=0`
    does not wait), `info`, `check_after` (the seq of a resume id, `EventIdError` if it is not
    in the log). Liveness: `reap` ends a run whose owner stopped heartbeating, with a terminal
    EXECUTION_ERROR; `cancel_requests` yields ids of this worker's runs that someone asked to
    cancel (from any worker). `active_run` names the run last started on a thread (metadata
    `thread_id`) while it has not ended. Backend failures raise `RunLogUnavailableError`.
    """

    worker_id: str
    retention: float

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create(self, run_id: str, metadata: dict[str, str]) -> None: ...
    async def append(self, run_id: str, type_: str, data: str) -> str: ...
    async def finish(self, run_id: str, type_: str, data: str, status: RunStatus, error: str | None) -> str: ...
    async def info(self, run_id: str) -> RunInfo | None: ...
    async def check_after(self, run_id: str, after: str) -> int: ...
    async def read(self, run_id: str, after: str | None, *, block: float, count: int = 256) -> list[LogEntry]: ...
    async def reap(self, info: RunInfo) -> bool: ...
    async def request_cancel(self, run_id: str) -> bool: ...
    async def active_run(self, thread_id: str) -> str | None: ...
    def cancel_requests(self) -> AsyncIterator[str]: ...


@runtime_checkable
class RunQueue(Protocol):
    """A run log that can also queue runs for any worker sharing it (`RedisRunLog`): `enqueue`
    records a QUEUED run and queues its job (`RunLimitError` when the queue is full); `take`
    returns up to `count` queued jobs for this worker, waiting up to `block` s (and re-takes those
    a dead worker took but never claimed); `claim` makes this worker the owner of a QUEUED run
    (False if it was cancelled or taken meanwhile); `ack` removes a job from the queue; `requeue`
    hands a taken job back (this worker filled up while it waited)."""

    async def enqueue(self, run_id: str, metadata: dict[str, str], job: str) -> None: ...
    async def take(self, count: int, *, block: float) -> list[QueuedRun]: ...
    async def claim(self, run_id: str) -> bool: ...
    async def ack(self, entry: str) -> None: ...
    async def requeue(self, job: QueuedRun) -> None: ...


def check_run_id(run_id: str) -> str:
    """A run id is 1-128 characters of letters, digits and `_.:-` (it goes into keys and URLs)."""
    if not isinstance(run_id, str) or _RUN_ID.fullmatch(run_id) is None:
        raise RunLogError(f"invalid run id {run_id!r}: use 1-128 letters, digits, '_', '.', ':' or '-'")
    return run_id


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    out = dict(metadata or {})
    for key, value in out.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise RunLogError(f"run metadata must map str to str, got {key!r}: {value!r}")
    return out


def bad_event_id(value: str) -> EventIdError:
    return EventIdError(f"malformed event id {value!r} (use an id: from this run's stream)")


def expired_event_id(run_id: str, value: str) -> EventIdError:
    return EventIdError(f"event {value!r} is not in run {run_id!r}'s log (trimmed or never there)", expired=True)


def encode_event(event: ExecutionEvent) -> tuple[str, str]:
    """(type, JSON text) of an event, the same JSON as `tyler run --json` prints."""
    return event.type.value, json.dumps(event.to_dict(), ensure_ascii=False, default=str)


def decode_event(data: str) -> ExecutionEvent:
    raw = json.loads(data)
    payload = dict(raw.get("data") or {})
    if isinstance(payload.get("message"), dict):
        payload["message"] = Message.model_validate(payload["message"])
    if isinstance(payload.get("new_messages"), list):
        payload["new_messages"] = [Message.model_validate(m) for m in payload["new_messages"]]
    if isinstance(payload.get("thread"), dict):
        payload["thread"] = Thread.model_validate(payload["thread"])
    return ExecutionEvent(
        EventType(raw["type"]), datetime.fromisoformat(raw["timestamp"]), payload, raw.get("attributes")
    )


def terminal_error(error_type: str, message: str) -> tuple[str, str]:
    """A terminal EXECUTION_ERROR written by the log itself (cancel, dead worker, shutdown)."""
    event = ExecutionEvent(
        EventType.EXECUTION_ERROR, datetime.now(UTC),
        {"error_type": error_type, "message": message, "exception": f"{error_type}: {message}", "duration_ms": None},
    )
    return encode_event(event)


def now() -> float:
    return time.time()
