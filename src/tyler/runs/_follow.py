"""`Follower`: one blocking `XREAD` per worker over every run its readers follow from elsewhere.

A reader on a worker that does not drive the run (a resume sent to another worker) would
otherwise hold a Redis connection in its own `XREAD BLOCK` and get one reply per event. The
follower reads all such runs' logs in one call (`XREAD BLOCK ... STREAMS k1 k2 ... id1 id2 ...`)
into a `LocalTail` per run, where readers wait as on the owner's tail: one connection and one
reply per batch for the whole worker. A run is followed from the id its first reader asked for;
it is dropped once its terminal entry is in (after a grace) or when no reader has looked for
`idle` seconds. A gap (entries trimmed before the follower read them) or a failed read breaks the
run's tail: its readers then read Redis themselves, which reports the gap or the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._base import LogEntry
from ._tail import LocalTail

log = logging.getLogger("tyler.runs")


class Follower:
    """Shared tail-follower of one `RedisRunLog` (see the module docstring).

    Args:
        xread: the log's XREAD (`streams` mapping, `count`, `block` ms), errors already typed.
        log_key: a run id's stream key.
        size: entries kept per followed run.
        poll: seconds one XREAD blocks; a newly followed run waits at most this long to be added.
        idle: seconds without a reader after which a run is no longer followed.
        grace: seconds a finished run's tail stays for readers still catching up.
    """

    def __init__(
        self, xread: Callable[..., Awaitable[Any]], log_key: Callable[[str], str], *, size: int,
        poll: float = 0.05, idle: float = 30.0, grace: float = 30.0,
    ) -> None:
        self._xread = xread
        self._log_key = log_key
        self._size = size
        self._poll_ms = max(int(poll * 1000), 1)
        self._idle = idle
        self._grace = grace
        self._tails: dict[str, LocalTail] = {}
        self._seen: dict[str, float] = {}  # run id -> loop time a reader last asked
        self._runs_by_key: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def tail(self, run_id: str, after: str | None) -> LocalTail:
        """The run's shared tail, started at `after` when nobody follows the run yet."""
        loop = asyncio.get_running_loop()
        tail = self._tails.get(run_id)
        if tail is None or tail.broken:
            tail = LocalTail(self._size, base=after or "0-0")
            self._tails[run_id] = tail
            self._runs_by_key[self._log_key(run_id)] = run_id
        self._seen[run_id] = loop.time()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="tyler-runlog-follower")
        return tail

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for tail in self._tails.values():
            tail.break_off()
        self._tails.clear()

    def _drop(self, run_id: str, tail: LocalTail) -> None:
        if self._tails.get(run_id) is tail:
            del self._tails[run_id]
            self._seen.pop(run_id, None)
            self._runs_by_key.pop(self._log_key(run_id), None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._tails:
            now = loop.time()
            for run_id, tail in list(self._tails.items()):
                if now - self._seen.get(run_id, now) > self._idle:
                    tail.break_off()
                    self._drop(run_id, tail)
            streams = {self._log_key(r): t.last_id for r, t in self._tails.items() if not t.done and not t.broken}
            if not streams:  # only finished runs in their grace: nothing to read
                await asyncio.sleep(self._poll_ms / 1000)
                continue
            try:
                reply = await self._xread(streams, count=self._size, block=self._poll_ms)
            except Exception as exc:  # readers read Redis themselves and get the error there
                log.warning("run log follower: %s", exc)
                for run_id, tail in list(self._tails.items()):
                    tail.break_off()
                    self._drop(run_id, tail)
                return
            for key, entries in reply or []:
                self._deliver(self._runs_by_key.get(key), entries)

    def _deliver(self, run_id: str | None, entries: list[tuple[str, dict[str, str]]]) -> None:
        tail = None if run_id is None else self._tails.get(run_id)
        if run_id is None or tail is None:
            return
        for entry_id, fields in entries:
            entry = LogEntry(entry_id, fields.get("t", ""), fields.get("d", "{}"), int(fields.get("n", 0)))
            last = tail.last_seq
            if last is not None and entry.seq != last + 1:  # trimmed before we read it
                tail.break_off()
                self._drop(run_id, tail)
                return
            tail.add(entry)
            if tail.done:
                asyncio.get_running_loop().call_later(self._grace, self._drop, run_id, tail)
                return
