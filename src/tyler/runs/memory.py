"""`MemoryRunLog`: the in-process run log (the default; one worker process).

Bounded: at most `max_events` entries per run (older ones are dropped, and a resume from a
dropped id is refused with `EventIdError(expired=True)` instead of silently skipping), at most
`max_runs` runs kept, finished runs' events forgotten `retention` seconds after they end (their
status record stays `record_retention` seconds, at most `max_runs` of them, so a late resume can
still be answered from the thread store). Readers wait on
a `Wakeup` that each append sets, so a tail costs nothing while the run is quiet.
Everything lives in one event loop; a dead process takes its readers with it, so `reap` has
nothing to do here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..exceptions import RunLimitError, RunLogError, RunOwnershipError
from ._base import LogEntry, RunInfo, RunStatus, Wakeup, bad_event_id, check_metadata, expired_event_id, now


@dataclass(slots=True)
class _Run:
    info: RunInfo
    entries: deque[LogEntry]
    next_seq: int = 1
    changed: Wakeup = field(default_factory=Wakeup)
    finished_mono: float | None = None


class MemoryRunLog:
    """In-process run log. See the module docstring for its bounds."""

    def __init__(
        self, *, max_events: int = 100_000, max_runs: int = 10_000, retention: float = 3600.0,
        record_retention: float = 7 * 86400.0,
    ) -> None:
        if max_events < 1 or max_runs < 1 or retention <= 0:
            raise RunLogError("max_events and max_runs must be >= 1 and retention > 0")
        self.worker_id = f"local-{uuid.uuid4().hex[:12]}"
        self.retention = retention
        self.record_retention = max(record_retention, retention)
        self._records: OrderedDict[str, tuple[RunInfo, float]] = OrderedDict()  # expired runs: info, ended
        self._max_events = max_events
        self._max_runs = max_runs
        self._runs: dict[str, _Run] = {}
        self._cancels: set[str] = set()
        self._active: dict[str, str] = {}  # thread id -> its running run
        self._cancel_signal = asyncio.Event()
        self._closed = False

    async def open(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        self._cancel_signal.set()

    # -- writers -----------------------------------------------------------------------------------

    async def create(self, run_id: str, metadata: dict[str, str]) -> None:
        self._sweep()
        if run_id in self._runs:
            raise RunLogError(f"run {run_id!r} already exists")
        if len(self._runs) >= self._max_runs:
            raise RunLimitError(f"the in-process run log holds {self._max_runs} runs; try again later")
        info = RunInfo(run_id, RunStatus.RUNNING, self.worker_id, now(), metadata=check_metadata(metadata))
        self._runs[run_id] = _Run(info, deque(maxlen=self._max_events))
        if "thread_id" in info.metadata:
            self._active[info.metadata["thread_id"]] = run_id

    async def append(self, run_id: str, type_: str, data: str) -> str:
        return self._add(self._owned(run_id), type_, data)

    async def finish(self, run_id: str, type_: str, data: str, status: RunStatus, error: str | None) -> str:
        run = self._owned(run_id)
        entry_id = self._add(run, type_, data)
        run.info.status = status
        run.info.error = error
        run.info.finished_at = now()
        run.finished_mono = asyncio.get_running_loop().time()
        self._cancels.discard(run_id)
        thread_id = run.info.metadata.get("thread_id")
        if thread_id is not None and self._active.get(thread_id) == run_id:
            del self._active[thread_id]
        return entry_id

    def _owned(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None or run.info.status is not RunStatus.RUNNING or run.info.owner != self.worker_id:
            raise RunOwnershipError(f"run {run_id!r} is not running on this worker")
        return run

    @staticmethod
    def _add(run: _Run, type_: str, data: str) -> str:
        entry = LogEntry(str(run.next_seq), type_, data, run.next_seq)
        run.next_seq += 1
        run.entries.append(entry)
        run.changed.set()
        return entry.id

    def _sweep(self) -> None:
        """Forget runs finished longer than `retention` ago; past `max_runs`, the oldest finished."""
        loop_now = asyncio.get_running_loop().time()
        finished = [(r.finished_mono, k) for k, r in self._runs.items() if r.finished_mono is not None]
        for ended, key in finished:
            if loop_now - ended > self.retention:
                self._forget(key)
        if len(self._runs) >= self._max_runs:
            for _, key in sorted(f for f in finished if f[1] in self._runs)[: len(self._runs) - self._max_runs + 1]:
                self._forget(key)
        while self._records and loop_now - next(iter(self._records.values()))[1] > self.record_retention:
            self._records.popitem(last=False)

    def _forget(self, run_id: str) -> None:
        """Drop a finished run's events; keep its status record (bounded, oldest dropped first)."""
        run = self._runs.pop(run_id)
        assert run.finished_mono is not None
        self._records[run_id] = (run.info, run.finished_mono)
        while len(self._records) > self._max_runs:
            self._records.popitem(last=False)

    # -- readers -----------------------------------------------------------------------------------

    def _get(self, run_id: str) -> _Run | None:
        run = self._runs.get(run_id)
        ended = None if run is None else run.finished_mono
        if ended is not None and asyncio.get_running_loop().time() - ended > self.retention:
            self._forget(run_id)
            return None
        return run

    async def info(self, run_id: str) -> RunInfo | None:
        run = self._get(run_id)
        if run is not None:
            return run.info
        record = self._records.get(run_id)
        if record is None or asyncio.get_running_loop().time() - record[1] > self.record_retention:
            return None
        return record[0]

    async def check_after(self, run_id: str, after: str) -> int:
        seq = _seq(after)
        run = self._get(run_id)
        first = run.entries[0].seq if run is not None and run.entries else None
        if run is None or first is None or not first <= seq < run.next_seq:
            raise expired_event_id(run_id, after)
        return seq

    async def read(self, run_id: str, after: str | None, *, block: float, count: int = 256) -> list[LogEntry]:
        seq = 0 if after is None else _seq(after)
        run = self._get(run_id)
        if run is None:
            return []
        if run.next_seq - 1 <= seq and block > 0:
            await run.changed.wait(block)
        if not run.entries:
            return []
        first = run.entries[0].seq
        start = max(seq + 1 - first, 0)
        return [run.entries[i] for i in range(start, min(start + count, len(run.entries)))]

    async def active_run(self, thread_id: str) -> str | None:
        return self._active.get(thread_id)

    async def reap(self, info: RunInfo) -> bool:
        return False  # owner and readers share this process

    # -- cancel ------------------------------------------------------------------------------------

    async def request_cancel(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.info.status is not RunStatus.RUNNING:
            return False
        self._cancels.add(run_id)
        self._cancel_signal.set()
        return True

    async def cancel_requests(self) -> AsyncIterator[str]:
        while not self._closed:
            await self._cancel_signal.wait()
            self._cancel_signal.clear()
            pending, self._cancels = self._cancels, set()
            for run_id in pending:
                yield run_id


def _seq(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise bad_event_id(value)
    return int(value)
