"""`Backend`: what `ThreadStore` needs from a place that keeps rows (memory, SQLite, PostgreSQL).

The store does the thread bookkeeping (what changed since the last save, `_state.Plan`); a
backend only applies a plan and reads threads back, each call atomic on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..messages import Thread
    from ._codec import ThreadList
    from ._state import Plan


class Backend(Protocol):
    dialect: str
    """"memory", "sqlite" or "postgresql"."""
    read_only: bool
    """Opened for reading only (a SQLite file this process may not write)."""

    @property
    def shown_url(self) -> str | None:
        """The database URL with any password hidden (None in memory)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def write(self, plan: Plan) -> None:
        """Apply `plan` (thread row, new/changed message rows) in one transaction."""

    async def delete(self, thread_id: str) -> bool: ...
    async def load(self, thread_id: str) -> Thread | None: ...
    async def page(self, limit: int | None, offset: int) -> ThreadList: ...
    async def find(self, attributes: dict[str, Any]) -> ThreadList: ...


__all__ = ["Backend"]
