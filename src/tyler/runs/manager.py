"""`RunManager`: runs that outlive the connection that started them.

`start()` takes a run's event stream (`agent.stream(thread)`) and drives it in a task of its own,
appending every event to the run log; a client that goes away only stops *reading*. `subscribe()`
replays a run's log after a `Last-Event-ID` and then tails it — one read loop over one log, so
replay and tail meet with no gap and no duplicate (each entry's `seq` is checked to prove it).
`cancel()` reaches the worker that drives the run wherever it is: a local task is cancelled
directly, a remote one through the backend's control channel. Cancelling closes the run's stream,
which closes the upstream model request and keeps the partial message on the thread.

A reader never hangs on a dead producer: when nothing arrives for `block` seconds it looks at the
run, and a run whose worker stopped heartbeating is ended by the backend with a terminal
EXECUTION_ERROR (error_type `WorkerLostError`) that every reader receives. The one caller that
ends it (the backend lets exactly one win) also rebuilds the reply that was streaming from the log
and appends it to the stored thread (`tyler.runs.recover`), so a dead worker loses nothing the
user saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ..events import EventType, ExecutionEvent
from ..exceptions import (
    EventIdError,
    RunLimitError,
    RunLogError,
    RunLogUnavailableError,
    RunNotFoundError,
    RunOwnershipError,
)
from ..messages import Message
from ._base import (
    LogEntry,
    QueuedRun,
    RunInfo,
    RunLog,
    RunQueue,
    RunStatus,
    check_run_id,
    encode_event,
    terminal_error,
)
from .memory import MemoryRunLog
from .recover import partial_replies

if TYPE_CHECKING:
    from ..storage import ThreadStore

log = logging.getLogger("tyler.runs")
# Turns a queued job (the dict given to `submit`) into the run's event stream, on the worker that takes it.
Runner = Callable[[dict[str, Any]], Awaitable[AsyncIterator[ExecutionEvent]]]

CANCELLED_MESSAGE = "the run was cancelled"
SHUTDOWN_MESSAGE = "the worker running this run shut down"


class RunManager:
    """Drives runs detached from their clients and serves their logs.

    Args:
        log: the backend; `MemoryRunLog()` (in-process) by default, `RedisRunLog(url)` to share
            runs between workers and hosts.
        max_runs: runs this worker drives at once; one more raises `RunLimitError` (HTTP 429).
        block: seconds a reader waits for a new entry before it checks that the run is alive.
        store: the thread store of the runs (those started with `metadata["thread_id"]`): when this
            worker ends a run whose worker died, the reply that was streaming is rebuilt from the
            log and appended to that thread, marked interrupted.
        runner: with a log that queues (`RedisRunLog`), turns a queued job (the dict given to
            `submit`) into the run's event stream; this worker then takes queued runs from every
            worker sharing the log whenever it drives fewer than `max_runs`.

    Use as `async with RunManager(...) as runs:` (or `await open()` / `await close()`).
    """

    def __init__(
        self, log: RunLog | None = None, *, max_runs: int = 100, block: float = 1.0, store: ThreadStore | None = None,
        runner: Runner | None = None,
    ) -> None:
        if max_runs < 1 or block <= 0:
            raise RunLogError("max_runs must be >= 1 and block > 0")
        self.log: RunLog = log if log is not None else MemoryRunLog()
        self.max_runs = max_runs
        self.block = block
        self.store = store
        self.runner = runner
        self._recoveries: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._slot = asyncio.Event()  # set when one of this worker's runs ends (room for a queued one)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._reasons: dict[str, tuple[RunStatus, str]] = {}
        self._control: asyncio.Task[None] | None = None

    async def open(self) -> RunManager:
        await self.log.open()
        self._control = asyncio.create_task(self._listen(), name="tyler-runs-control")
        if self.dispatching:
            self._dispatcher = asyncio.create_task(self._dispatch(), name="tyler-runs-dispatch")
        return self

    async def close(self) -> None:
        """End this worker's runs (status failed: the worker shut down), stop listening, close the log."""
        if self._dispatcher is not None:  # first: take no more queued runs
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for run_id in list(self._tasks):
            self._interrupt(run_id, RunStatus.FAILED, SHUTDOWN_MESSAGE)
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._recoveries:
            await asyncio.gather(*self._recoveries, return_exceptions=True)
        if self._control is not None:
            self._control.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._control
            self._control = None
        await self.log.close()

    async def __aenter__(self) -> RunManager:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- producing ---------------------------------------------------------------------------------

    async def start(
        self, events: AsyncIterator[ExecutionEvent], *, run_id: str | None = None,
        metadata: dict[str, str] | None = None, on_end: Callable[[], None] | None = None,
    ) -> str:
        """Register a run and drive `events` (an events-mode stream) in its own task; returns the id.

        `on_end` is called once when the run has ended here (e.g. to free a per-client slot).
        """
        if len(self._tasks) >= self.max_runs:
            await _close_quietly(events)
            raise RunLimitError(f"this worker already drives {self.max_runs} runs; try again later")
        run_id = check_run_id(run_id) if run_id is not None else f"run_{uuid.uuid4().hex}"
        try:
            await self.log.create(run_id, metadata or {})
        except BaseException:
            await _close_quietly(events)
            raise
        task = asyncio.create_task(self._drive(run_id, events), name=f"tyler-run-{run_id}")
        self._tasks[run_id] = task
        if on_end is not None:
            task.add_done_callback(lambda _: on_end())
        return run_id

    async def _drive(self, run_id: str, events: AsyncIterator[ExecutionEvent]) -> None:
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                async for event in stream:
                    type_, data = encode_event(event)
                    if event.type.is_terminal:
                        done = event.type is EventType.EXECUTION_COMPLETE
                        status = RunStatus.COMPLETED if done else RunStatus.FAILED
                        await self.log.finish(run_id, type_, data, status, None if done else event.data.get("message"))
                        return
                    await self.log.append(run_id, type_, data)
            await self._end(run_id, RunStatus.FAILED, "ExecutionError", "the run ended without a terminal event")
        except asyncio.CancelledError:
            status, message = self._reasons.get(run_id, (RunStatus.CANCELLED, CANCELLED_MESSAGE))
            await self._end(run_id, status, "RunCancelledError", message)
        except RunOwnershipError as exc:
            log.warning("run %s stopped: %s", run_id, exc)  # whoever took it over wrote its ending
        except RunLogUnavailableError as exc:
            log.error("run %s stopped: %s", run_id, exc)
            await self._end(run_id, RunStatus.FAILED, "RunLogUnavailableError", str(exc))
        except Exception as exc:
            log.exception("run %s failed", run_id)
            await self._end(run_id, RunStatus.FAILED, "ExecutionError", f"{type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(run_id, None)
            self._reasons.pop(run_id, None)
            self._slot.set()

    # -- the shared queue (dispatch) ---------------------------------------------------------------

    @property
    def dispatching(self) -> bool:
        """True if runs can be queued for any worker: a `runner` and a log that queues."""
        return self.runner is not None and isinstance(self.log, RunQueue)

    @property
    def has_capacity(self) -> bool:
        """True if this worker drives fewer than `max_runs` runs (`start` would not refuse)."""
        return len(self._tasks) < self.max_runs

    async def submit(self, job: dict[str, Any], *, run_id: str | None = None,
                     metadata: dict[str, str] | None = None) -> str:
        """Queue a run that any worker sharing the log starts (with its `runner`) when it has room;
        returns its id (status QUEUED until then). `RunLimitError` when the queue is full."""
        if not isinstance(self.log, RunQueue):
            raise RunLogError(f"{type(self.log).__name__} cannot queue runs for other workers")
        run_id = check_run_id(run_id) if run_id is not None else f"run_{uuid.uuid4().hex}"
        await self.log.enqueue(run_id, metadata or {}, json.dumps(job))
        return run_id

    async def _dispatch(self) -> None:
        """Take queued runs while this worker has room (a Redis outage is logged and retried)."""
        assert isinstance(self.log, RunQueue)
        queue = self.log
        while True:
            free = self.max_runs - len(self._tasks)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                for job in await queue.take(free, block=self.block):
                    await self._take(queue, job)
            except RunLogUnavailableError as exc:
                log.warning("taking queued runs failed: %s", exc)
                await asyncio.sleep(self.block)

    async def _take(self, queue: RunQueue, job: QueuedRun) -> None:
        if not self.has_capacity:  # runs started here while this worker waited for jobs
            await queue.requeue(job)
            return
        try:
            if not await queue.claim(job.run_id):
                return  # cancelled while queued, or another worker took it over
            assert self.runner is not None
            try:
                events = await self.runner(json.loads(job.job))
            except Exception as exc:
                log.exception("queued run %s could not start", job.run_id)
                await self._end(job.run_id, RunStatus.FAILED, "ExecutionError",
                                f"the queued run could not start: {type(exc).__name__}: {exc}")
                return
            self._tasks[job.run_id] = asyncio.create_task(self._drive(job.run_id, events),
                                                          name=f"tyler-run-{job.run_id}")
        finally:
            await queue.ack(job.entry)  # claimed (owner + lease guard it now) or nothing to do

    async def _end(self, run_id: str, status: RunStatus, error_type: str, message: str) -> None:
        type_, data = terminal_error(error_type, message)
        try:
            await self.log.finish(run_id, type_, data, status, message)
        except RunLogError as exc:  # a Redis outage: RedisRunLog retries the ending on its heartbeat
            log.error("run %s: could not write its ending (%s): %s", run_id, status.value, exc)

    def _interrupt(self, run_id: str, status: RunStatus, message: str) -> bool:
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        self._reasons.setdefault(run_id, (status, message))
        task.cancel()
        return True

    async def _listen(self) -> None:
        async with aclosing(self.log.cancel_requests()) as requests:  # type: ignore[type-var]
            async for run_id in requests:
                self._interrupt(run_id, RunStatus.CANCELLED, CANCELLED_MESSAGE)

    async def wait(self, run_id: str) -> None:
        """Until this worker's run `run_id` has ended (returns at once for other runs)."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    @property
    def active(self) -> list[str]:
        """Ids of the runs this worker drives now."""
        return list(self._tasks)

    # -- control -----------------------------------------------------------------------------------

    async def cancel(self, run_id: str) -> bool:
        """Ask the run's worker to cancel it; False if the run is not running (or unknown)."""
        check_run_id(run_id)
        if self._interrupt(run_id, RunStatus.CANCELLED, CANCELLED_MESSAGE):
            return True
        return await self.log.request_cancel(run_id)

    async def status(self, run_id: str) -> RunInfo:
        """The run's status record; a run whose worker died is ended (failed) first."""
        info = await self._info(run_id)
        if info.status is RunStatus.RUNNING and run_id not in self._tasks and await self._reap(info):
            info = await self._info(run_id)
        return info

    async def _reap(self, info: RunInfo) -> bool:
        """End `info`'s run if its worker died (True if this call did); then keep its partial reply."""
        if not await self.log.reap(info):
            return False
        if self.store is not None and info.metadata.get("thread_id"):
            # Shielded and tracked: a reader that goes away must not abort the store write half-way.
            task = asyncio.create_task(self._keep_partial(info), name=f"tyler-run-recover-{info.run_id}")
            self._recoveries.add(task)
            task.add_done_callback(self._recoveries.discard)
            await asyncio.shield(task)
        return True

    async def _keep_partial(self, info: RunInfo) -> None:
        """Append the lost run's unsaved reply, rebuilt from its log, to its stored thread."""
        assert self.store is not None
        thread_id = info.metadata["thread_id"]
        try:
            entries: list[LogEntry] = []
            last: str | None = None
            while batch := await self.log.read(info.run_id, last, block=0, count=1024):
                entries += batch
                last = batch[-1].id
            ended = await self._info(info.run_id)
            thread = await self.store.get(thread_id)
            if thread is None:
                log.warning("run %s: thread %s is not in the store; its partial reply is dropped",
                            info.run_id, thread_id)
                return
            replies = partial_replies(entries, {m.id for m in thread.messages}, error_type="WorkerLostError",
                                      error_message=ended.error or "the worker running this run was lost")
            for message in replies:
                thread.add_message(message)
            if replies:
                await self.store.save(thread)
        except Exception:  # logged, not raised: the run's ending (already written) is what readers need
            log.exception("run %s: could not keep the partial reply of the lost run on thread %s",
                          info.run_id, thread_id)

    async def active_run(self, thread_id: str) -> str | None:
        """The id of the run in progress on thread `thread_id` (runs started with that
        `metadata["thread_id"]`), or None; a run whose worker died is ended first."""
        run_id = await self.log.active_run(thread_id)
        if run_id is None:
            return None
        try:
            info = await self.status(run_id)
        except RunNotFoundError:
            return None
        return None if info.status.ended else run_id

    async def _info(self, run_id: str) -> RunInfo:
        info = await self.log.info(check_run_id(run_id))
        if info is None:
            raise RunNotFoundError(run_id)
        return info

    # -- reading -----------------------------------------------------------------------------------

    async def log_gone(self, info: RunInfo) -> bool:
        """True if `info`'s run ended and its events are past the log's retention (its status
        record is kept longer; a finished run's log keeps at least its terminal entry while it is
        retained)."""
        if not info.status.ended:
            return False
        return not await self.log.read(info.run_id, None, block=0, count=1)

    async def check_resume(self, run_id: str, after: str | None) -> RunInfo:
        """What `subscribe(run_id, after)` will refuse, raised before a response starts: an unknown
        run, a malformed id or one no longer in the log (unless the answer comes from the store)."""
        info = await self.status(run_id)
        if await self.log_gone(info):
            if self.store is None:
                raise _past_retention(run_id)
        elif after is not None:
            await self._check_after(info, after)
        return info

    async def _check_after(self, info: RunInfo, after: str) -> int | None:
        """The seq of `after` in the run's log; None if the log expired meanwhile and the answer
        comes from the store (the log can expire between looking at it and reading it)."""
        try:
            return await self.log.check_after(info.run_id, after)
        except EventIdError as exc:
            if exc.expired and self.store is not None and await self.log_gone(info):
                return None
            raise

    async def final_messages(self, info: RunInfo) -> list[Message]:
        """The messages `info`'s run left on its stored thread: those after the message it was
        started on (`metadata["after_message"]`) up to the next user message or the run's end."""
        thread_id, anchor = info.metadata.get("thread_id"), info.metadata.get("after_message")
        thread = await self.store.get(thread_id) if self.store is not None and thread_id else None
        if thread is None or anchor is None:
            return []
        ids = [m.id for m in thread.messages]
        if anchor not in ids:
            return []
        out: list[Message] = []
        for message in thread.messages[ids.index(anchor) + 1:]:
            # Later runs' messages: a new user turn, or anything stamped after this run ended.
            if message.role == "user" or (info.finished_at is not None
                                          and message.timestamp.timestamp() > info.finished_at):
                break
            out.append(message)
        return out

    async def _stored(self, info: RunInfo) -> AsyncIterator[LogEntry]:
        messages = await self.final_messages(info)
        for message in messages:
            yield _message_entry(message)
        if info.status is RunStatus.COMPLETED:
            event = ExecutionEvent(EventType.EXECUTION_COMPLETE, data={
                "thread_id": info.metadata.get("thread_id"), "new_messages": messages, "replayed_from": "thread_store",
            })
        else:
            cancelled = info.status is RunStatus.CANCELLED
            event = ExecutionEvent(EventType.EXECUTION_ERROR, data={
                "error_type": "RunCancelledError" if cancelled else "ExecutionError",
                "message": info.error or f"the run {info.status.value}", "exception": None,
                "replayed_from": "thread_store",
            })
        type_, data = encode_event(event)
        yield LogEntry("", type_, data, 0)

    async def subscribe(self, run_id: str, after: str | None = None) -> AsyncIterator[LogEntry]:
        """The run's entries after `after` (a Last-Event-ID; None: from the start), then the live
        tail, ending with its terminal event. Each entry exactly once, in order.

        A finished run whose events are past the log's retention (its status record is kept
        longer) is answered from the thread store when this manager has one (else EventIdError,
        expired): one MESSAGE_CREATED
        entry per message the run left on its thread, then a terminal entry with
        `replayed_from: "thread_store"`; these entries have no id (`""`) and `after` is ignored.

        Raises `RunNotFoundError` (unknown or expired run), `EventIdError` (a malformed id, or one
        no longer in the log; also when this reader fell so far behind that the log's cap dropped
        entries it had not read), `RunLogUnavailableError` (backend down).
        """
        info = await self._info(run_id)
        found = 0 if after is None or await self.log_gone(info) else await self._check_after(info, after)
        if found is None or await self.log_gone(info):
            if self.store is None:
                raise _past_retention(run_id)
            async for entry in self._stored(info):
                yield entry
            return
        seq = found
        last = after
        while True:
            entries = await self.log.read(run_id, last, block=self.block)
            if not entries:
                info = await self._info(run_id)
                if not info.status.ended:  # queued runs wait for a worker; running ones may be dead
                    if info.status is RunStatus.RUNNING:
                        await self._reap(info)
                    continue
                # Final status is written with the terminal entry: read once more, then stop.
                entries = await self.log.read(run_id, last, block=0)
                if not entries:
                    # Either `last` is the terminal entry (a resume after the end: nothing left), or
                    # the log expired under this reader, which must not pass a cut replay off as the
                    # whole run: the log tells which (EventIdError, expired, when `last` is gone).
                    if last is None:
                        raise _past_retention(run_id)
                    await self.log.check_after(run_id, last)
                    return
            for entry in entries:
                if entry.seq != seq + 1:
                    raise EventIdError(
                        f"run {run_id!r}: entries {seq + 1}..{entry.seq - 1} were dropped from the log "
                        "before this reader got them", expired=True,
                    )
                seq, last = entry.seq, entry.id
                yield entry
                if entry.is_terminal:
                    return


def _past_retention(run_id: str) -> EventIdError:
    return EventIdError(f"run {run_id!r} ended and its events are past the log's retention", expired=True)


def _message_entry(message: Message) -> LogEntry:
    type_, data = encode_event(ExecutionEvent(EventType.MESSAGE_CREATED, message.timestamp, {"message": message}))
    return LogEntry("", type_, data, 0)


async def _close_quietly(events: Any) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


__all__ = ["RunManager"]
