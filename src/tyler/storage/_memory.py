"""The in-memory backend: the same rows as the SQL tables, kept in dicts of this process.

It stores the encoded rows (JSON text), not the caller's objects, so later edits of a saved
`Thread` never leak into the store and loading returns fresh objects, exactly like the SQL
backends. Every method runs without awaiting in between, so each is atomic for asyncio tasks.
"""

from __future__ import annotations

from typing import Any

from ..messages import Thread
from ._codec import ThreadList, decode_many, decode_message, decode_thread
from ._state import Plan


class MemoryBackend:
    """Threads and messages in process memory; lost when the process exits."""

    dialect = "memory"
    shown_url = None
    read_only = False

    def __init__(self) -> None:
        self._threads: dict[str, dict[str, Any]] = {}
        # thread id -> message id -> row; dicts keep insertion order, which is sequence order.
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def write(self, plan: Plan) -> None:
        row = plan.thread_row
        tid = row["id"]
        stored = self._threads.get(tid)
        if stored is None:
            stored = self._threads[tid] = {**row, "last_seq": 0}
            self._messages[tid] = {}
        else:
            stored["updated_at"] = max(stored["updated_at"], row["updated_at"])
            if plan.write_meta:
                stored["title"] = row["title"]
                stored["attributes"] = row["attributes"]
        msgs = self._messages[tid]
        for message_row in plan.rows:
            old = msgs.get(message_row["id"])
            if old is not None:
                msgs[message_row["id"]] = {**message_row, "seq": old["seq"]}
            else:
                stored["last_seq"] += 1
                msgs[message_row["id"]] = {**message_row, "seq": stored["last_seq"]}

    async def delete(self, thread_id: str) -> bool:
        self._messages.pop(thread_id, None)
        return self._threads.pop(thread_id, None) is not None

    def _decode(self, thread_id: str) -> Thread:
        rows = self._messages[thread_id].values()
        return decode_thread(self._threads[thread_id], [decode_message(r, thread_id) for r in rows])

    async def load(self, thread_id: str) -> Thread | None:
        if thread_id not in self._threads:
            return None
        return self._decode(thread_id)

    def _ordered_ids(self) -> list[str]:
        rows = sorted(self._threads.values(), key=lambda r: r["id"])
        rows.sort(key=lambda r: r["updated_at"], reverse=True)
        return [r["id"] for r in rows]

    def _decode_all(self, ids: list[str]) -> ThreadList:
        return decode_many([(self._threads[tid], list(self._messages[tid].values())) for tid in ids])

    async def page(self, limit: int | None, offset: int) -> ThreadList:
        ids = self._ordered_ids()[offset:]
        if limit is not None:
            ids = ids[:limit]
        return self._decode_all(ids)

    async def find(self, attributes: dict[str, Any]) -> ThreadList:
        return self._decode_all(self._ordered_ids())
