"""`LocalTail`: the owning worker's in-memory copy of a run's newest log entries.

Readers on the worker that drives a run are the common case (the client that started it is still
connected there). With a shared log they would pay a Redis round trip and a reply to parse for
every event; instead `RedisRunLog` adds each entry here once Redis has confirmed it (with the id
and seq Redis gave it), and local readers wait on a `Wakeup`, as with the in-process log.
Only confirmed entries are kept, so what a local reader sees is always in the shared log too, in
the same order, with the same ids: a resume on any worker continues from it.

A tail answers only what it holds: `read` returns None when the asked position is not in its
window (an older id, a foreign id) or when the tail is `broken` (this worker stopped writing the
run: fenced out or the backend failed); the caller then reads the shared log instead.
"""

from __future__ import annotations

from collections import deque

from ._base import LogEntry, Wakeup


class LocalTail:
    """At most `size` newest confirmed entries of one run (see the module docstring)."""

    __slots__ = ("_entries", "_seqs", "_wakeup", "base", "broken", "done", "trimmed")

    def __init__(self, size: int, base: str | None = None) -> None:
        """`base`: the id right before the first entry this tail will get (a follower started
        there); None: the tail starts with the run (its first entry is seq 1)."""
        self._entries: deque[LogEntry] = deque(maxlen=size)
        self.base = base
        self.trimmed = False  # entries left the window: `base` no longer borders it
        self._seqs: dict[str, int] = {}  # entry id -> seq, for the entries in the window
        self._wakeup = Wakeup()
        self.done = False  # the terminal entry is in
        self.broken = False  # this worker no longer writes the run: readers go to the shared log

    def add(self, entry: LogEntry) -> None:
        """Append a confirmed entry (in log order) and wake the readers."""
        if len(self._entries) == self._entries.maxlen:
            self._seqs.pop(self._entries[0].id, None)
            self.trimmed = True
        self._entries.append(entry)
        self._seqs[entry.id] = entry.seq
        self.done = self.done or entry.is_terminal
        self._wakeup.set()

    def break_off(self) -> None:
        """Stop serving: waiting readers return None and read the shared log from there on."""
        self.broken = True
        self._wakeup.set()

    @property
    def last_id(self) -> str | None:
        """The newest entry's id (or `base` while there is none)."""
        return self._entries[-1].id if self._entries else self.base

    @property
    def last_seq(self) -> int | None:
        return self._entries[-1].seq if self._entries else None

    def seq_of(self, entry_id: str) -> int | None:
        """The seq of `entry_id` if it is in the window."""
        return self._seqs.get(entry_id)

    def _position(self, after: str | None) -> int | None:
        """Index in the window of the first entry after `after`, or None if the window cannot tell."""
        first = self._entries[0].seq if self._entries else None
        if self.base is not None:
            if (after or "0-0") == self.base and not self.trimmed:
                return 0
        elif after is None:
            return 0 if first in (None, 1) else None
        seq = None if after is None else self._seqs.get(after)
        return None if seq is None or first is None else seq - first + 1

    async def read(self, after: str | None, *, block: float, count: int) -> list[LogEntry] | None:
        """Entries after `after` (waiting up to `block` s for one), or None: ask the shared log."""
        if self.broken:
            return None
        start = self._position(after)
        if start is None:
            return None
        if start >= len(self._entries) and block > 0 and not self.done:
            await self._wakeup.wait(block)
            if self.broken:
                return None
            start = self._position(after)  # the window may have moved while we waited
            if start is None:
                return None
        return [self._entries[i] for i in range(start, min(start + count, len(self._entries)))]
