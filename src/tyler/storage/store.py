"""`ThreadStore`: persist `Thread`s in memory, in a SQLite file or in PostgreSQL.

    store = await ThreadStore.create("sqlite+aiosqlite:///chat.db")
    thread = await store.get_thread("main-chat")        # ThreadNotFoundError (a KeyError) if missing
    thread.add_message(Message(role="user", content="hi"))
    await store.save_thread(thread)                      # writes the one new message row

Save semantics (the same on every backend):

* Append-only. A save inserts the messages this store has not written for the thread yet and
  updates those edited in place since its last save (among the last `edit_window` = 256 saved
  messages; `save(thread, full=True)` checks all; see `tyler.storage._state`); it never deletes
  a message row, neither its own nor one another writer added. Messages removed from
  `thread.messages` stay stored; `delete()` removes a whole thread.
* Incremental. Appending one message to a 5,000-message thread writes one message row plus the
  thread row. A thread object this store did not load or save before is written in full (rows
  with the same ids are overwritten). Two messages of one thread with the same id are refused
  (`StorageError`, nothing written) rather than merged into one row.
* Concurrent writers lose nothing. Two tasks or processes that each append their own messages to
  the same thread both keep them; stored order is the order of the saves (a per-thread sequence).
  Title and attributes are written only when the saving object changed them, last writer wins.
* Atomic and cancellation-safe. A save is one transaction: if it fails the stored thread is as it
  was (and the next save retries the same rows). Once called, a save runs to its end even if the
  calling task is cancelled, so a user message saved at the start of a cancelled run is kept.
* Loading returns fresh objects with every stored message in sequence order, including messages
  appended by other writers; it is two queries whatever the thread's length.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import weakref
from types import TracebackType
from typing import Any

from .._checks import check_seconds
from ..exceptions import ConfigurationError, StorageError, ThreadNotFoundError
from ..file_store import FileStore
from ..messages import Message, Thread, check_id
from ._backend import Backend
from ._codec import ThreadList
from ._memory import MemoryBackend
from ._sql import SQLBackend
from ._state import loaded_state, plan_save, remember

log = logging.getLogger("tyler.storage")



def _backend_for(url: Any, timeouts: dict[str, float]) -> Backend:
    """Pick the backend for `url`; ConfigurationError for anything not supported."""
    from sqlalchemy import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if url is None:
        return MemoryBackend()
    if isinstance(url, str):
        if url.strip() in ("memory", "memory://", ":memory:"):
            return MemoryBackend()
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError) as exc:
            raise ConfigurationError(f"invalid database URL {url!r}: {exc}") from exc
    elif isinstance(url, URL):
        parsed = url
    else:
        raise ConfigurationError(f"database URL must be a string or None, got {type(url).__name__}")
    # Read from the string: asking SQLAlchemy for the default driver would import it.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("aiosqlite", ""):
            raise ConfigurationError(f"unsupported SQLite driver {driver!r}: use sqlite+aiosqlite:///path.db")
        if parsed.database in (None, "", ":memory:"):
            # An in-memory SQLite database lives in one connection; the memory backend is that.
            return MemoryBackend()
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        if driver not in ("asyncpg", ""):
            raise ConfigurationError(f"unsupported PostgreSQL driver {driver!r}: use postgresql+asyncpg://user@host/db")
        try:
            import asyncpg  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError("PostgreSQL needs asyncpg: pip install 'tyler-stream[postgres]'") from exc
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigurationError(
            f"unsupported database {backend!r} in {url!s}: use None (in memory), "
            "'sqlite+aiosqlite:///file.db' or 'postgresql+asyncpg://user@host/db'"
        )
    return SQLBackend(parsed, **timeouts)


def _log_orphan_failure(task: asyncio.Task[Thread]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("saving a thread after its caller was cancelled failed: %s", task.exception())


def _check_id(thread_id: Any) -> str:
    if not isinstance(thread_id, str) or not thread_id:
        raise TypeError(f"a thread id must be a non-empty string, got {thread_id!r}")
    return check_id(thread_id, "thread id")


def _same(a: Any, b: Any) -> bool:
    # JSON equality: 1 != True, key order irrelevant.
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class ThreadStore:
    """Stores threads: `None` = in memory, or an SQLAlchemy async URL for SQLite/PostgreSQL.

    `ThreadStore(url)` only parses the URL; the database is opened (and its schema created or
    migrated) by `await store.initialize()`, by `await ThreadStore.create(url)`, by `async with`,
    or lazily by the first operation. `close()` waits for saves in flight and releases the
    connections.

    `connect_timeout` bounds connecting to PostgreSQL; `command_timeout` bounds each PostgreSQL
    statement, so a server that stops answering mid-session fails the call instead of blocking it;
    `busy_timeout` bounds waiting for another process's write lock on SQLite. All end in
    `StorageError` rather than hanging.
    `edit_window`: how many of the most recent already-saved messages each save checks for
    in-place edits (None: all; see `save`).
    `file_store`: where attachment bytes are written (a `FileStore`; default: a local folder,
    `$TYLER_FILE_STORAGE_PATH` or the user data dir). Message rows hold only references.
    """

    def __init__(
        self,
        url: Any = None,
        *,
        connect_timeout: float = 10.0,
        busy_timeout: float = 15.0,
        command_timeout: float = 60.0,
        edit_window: int | None = 256,
        file_store: FileStore | None = None,
    ) -> None:
        if file_store is not None and not isinstance(file_store, FileStore):
            raise ConfigurationError(f"file_store must be a FileStore, got {type(file_store).__name__}")
        self._file_store = file_store
        if edit_window is not None and (not isinstance(edit_window, int) or edit_window < 0):
            raise ConfigurationError(f"edit_window must be a non-negative int or None, got {edit_window!r}")
        timeouts = dict(connect_timeout=connect_timeout, busy_timeout=busy_timeout, command_timeout=command_timeout)
        check_seconds(**timeouts)
        self._backend = _backend_for(url, timeouts)
        self._edit_window = edit_window
        self._token = uuid.uuid4().hex  # keys this store's bookkeeping in Thread._store_state
        self._opened = False
        self._closed = False
        self._open_lock = asyncio.Lock()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._pending: set[asyncio.Task[Thread]] = set()

    @classmethod
    async def create(cls, url: Any = None, **options: Any) -> ThreadStore:
        """Create a store and open it now, so a bad URL or unreachable database fails here."""
        store = cls(url, **options)
        await store.initialize()
        return store

    @property
    def file_store(self) -> FileStore:
        """Where this store keeps attachment bytes (the default folder is picked on first use)."""
        if self._file_store is None:
            self._file_store = FileStore()
        return self._file_store

    def _attach_store(self, threads: list[Thread]) -> list[Thread]:
        # Loaded attachments read their bytes from this store's files on demand.
        for thread in threads:
            for message in thread.messages:
                for attachment in message.attachments:
                    attachment._store = self.file_store
        return threads

    async def _store_files(self, thread_id: str, messages: list[Message]) -> bool:
        """Write the bytes of attachments not stored yet (all checked before any is written)."""
        todo = [a for m in messages for a in m.attachments if a.storage_path is None]
        if not todo:
            return False
        files = self.file_store
        for attachment in todo:
            files.check(attachment)
        for attachment in todo:
            attachment.storage_path = await files.save(thread_id, attachment)
            attachment._store = files
        return True

    @property
    def dialect(self) -> str:
        """The backend: "memory", "sqlite" or "postgresql"."""
        return self._backend.dialect

    @property
    def read_only(self) -> bool:
        """True for a SQLite file this process may not write: threads load, saves fail."""
        return self._backend.read_only

    @property
    def url(self) -> str | None:
        """The database URL with any password hidden (None in memory)."""
        return self._backend.shown_url

    def __repr__(self) -> str:
        return f"ThreadStore({self.url or 'memory'})"

    async def initialize(self) -> None:
        """Open the database and create or migrate its schema (idempotent)."""
        if self._opened:
            return
        async with self._open_lock:
            if self._closed:
                raise StorageError("the thread store is closed")
            if not self._opened:
                await self._backend.open()
                self._opened = True

    async def _ready(self) -> None:
        if self._closed:
            raise StorageError("the thread store is closed")
        if not self._opened:
            await self.initialize()

    async def close(self) -> None:
        """Wait for saves in flight, then release connections. Idempotent."""
        self._closed = True
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._backend.close()

    async def __aenter__(self) -> ThreadStore:
        await self.initialize()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- reading ---------------------------------------------------------------------------

    async def get(self, thread_id: str) -> Thread | None:
        """The stored thread, or None if there is none with this id."""
        _check_id(thread_id)
        await self._ready()
        thread = await self._backend.load(thread_id)
        if thread is not None:
            self._attach_store([thread])
            remember(thread, self._token, loaded_state(thread))
        return thread

    async def get_thread(self, thread_id: str) -> Thread:
        """The stored thread; `ThreadNotFoundError` (also a KeyError) if there is none."""
        thread = await self.get(thread_id)
        if thread is None:
            raise ThreadNotFoundError(thread_id)
        return thread

    def _track(self, threads: ThreadList) -> ThreadList:
        for thread in self._attach_store(threads):
            remember(thread, self._token, loaded_state(thread))
        return threads

    async def list_threads(self, limit: int | None = 100, offset: int = 0) -> ThreadList:
        """Threads with their messages, most recently updated first.

        A thread with a corrupt row is left out (logged on `tyler.storage`, and listed with its
        error in the result's `skipped`) instead of failing the whole listing.
        """
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be a non-negative int, got {offset!r}")
        await self._ready()
        return self._track(await self._backend.page(limit, offset))

    async def list_recent(self, limit: int | None = None) -> ThreadList:
        """The most recently updated threads (all of them when `limit` is None)."""
        return await self.list_threads(limit, 0)

    async def find_by_attributes(self, attributes: dict[str, Any]) -> ThreadList:
        """Threads whose attributes hold every given key with an equal (JSON-equal) value."""
        if not isinstance(attributes, dict) or not all(isinstance(k, str) for k in attributes):
            raise TypeError("attributes must be a dict with string keys")
        await self._ready()
        found = await self._backend.find(attributes)
        hits = [t for t in found if all(k in t.attributes and _same(t.attributes[k], v) for k, v in attributes.items())]
        return self._track(ThreadList(hits, found.skipped))

    # -- writing ---------------------------------------------------------------------------

    async def save(self, thread: Thread, *, full: bool = False) -> Thread:
        """Write what changed in `thread` since this store last loaded/saved it; returns `thread`.

        New messages are always written. Messages edited in place are detected among the last
        `edit_window` saved messages (256 by default), so a save costs the same whatever the
        thread's length; `full=True` checks every message (for an edit of an older message).
        """
        if not isinstance(thread, Thread):
            raise TypeError(f"save expects a Thread, got {type(thread).__name__}")
        _check_id(thread.id)
        await self._ready()
        # Shielded: a cancelled caller must not abort a save half-way through its bookkeeping.
        task = asyncio.ensure_future(self._save(thread, None if full else self._edit_window))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller is gone but the save goes on: nobody else will see its outcome.
            task.add_done_callback(_log_orphan_failure)
            raise

    async def _save(self, thread: Thread, window: int | None) -> Thread:
        lock = self._locks.get(thread.id)
        if lock is None:
            lock = self._locks[thread.id] = asyncio.Lock()
        async with lock:
            plan = plan_save(thread, self._token, window)
            if plan is not None:
                if await self._store_files(thread.id, plan.messages):
                    plan.reencode()
                await self._backend.write(plan)
                remember(thread, self._token, plan.next_state)
        return thread

    async def delete(self, thread_id: str) -> bool:
        """Delete the thread, all its messages and its attachment files; False if it did not exist."""
        _check_id(thread_id)
        await self._ready()
        deleted = await self._backend.delete(thread_id)
        await self.file_store.delete_thread(thread_id)
        return deleted

    # Names used by the streaming guide and older Tyler code.
    save_thread = save
    delete_thread = delete

    async def list(self, limit: int | None = 100, offset: int = 0) -> ThreadList:
        """Same as `list_threads`."""
        return await self.list_threads(limit, offset)
