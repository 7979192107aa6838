"""The SQL backend (SQLite through aiosqlite, PostgreSQL through asyncpg) on SQLAlchemy 2 async.

Concurrency: a save is one transaction that first upserts the thread row, bumping its
`last_seq` counter by the number of rows it writes, and then upserts those message rows with the
sequence numbers it was handed. The counter bump serializes writers of the same thread: on
PostgreSQL the upsert takes the thread row's lock until commit; on SQLite the transaction is
`BEGIN IMMEDIATE` (the database write lock, waited for up to `busy_timeout`). So two tasks or two
processes appending to one thread both keep all their messages, with distinct sequence numbers.
Messages that already exist (same thread and id) are updated in place and keep their sequence.

SQLite runs in WAL mode with `synchronous=NORMAL`: a committed save survives a crash of the
process (not necessarily a power cut), and readers never block the writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, bindparam, delete, event, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..exceptions import SchemaVersionError, StorageError, TylerError
from ..messages import Thread
from . import _schema
from ._codec import MESSAGE_COLUMNS, ThreadList, decode_many, decode_message, decode_thread
from ._schema import UTCDateTime, messages, threads
from ._state import Plan

_IN_CHUNK = 500  # ids per `IN (...)` when loading many threads
log = logging.getLogger("tyler.storage")


def _raw(value: Any) -> Any:
    """Pass-through JSON (de)serializer: `_codec` already produced/consumes the JSON text."""
    return value


class SQLBackend:
    """Threads and messages in two tables of a SQLite file or a PostgreSQL database."""

    def __init__(self, url: URL, *, connect_timeout: float, busy_timeout: float, command_timeout: float) -> None:
        self.url = url
        self.dialect = url.get_backend_name()
        self._shown = url.render_as_string(hide_password=True)
        self._connect_timeout = connect_timeout
        self._busy_timeout = busy_timeout
        self._command_timeout = command_timeout
        self._engine: AsyncEngine | None = None
        self.read_only = False  # a SQLite file this process may not write: opened for reading only
        # Built once: a thread row upserted with or without its title/attributes, and message rows.
        self._upsert_thread_with_meta = self._thread_upsert(write_meta=True)
        self._upsert_thread_counters = self._thread_upsert(write_meta=False)
        self._upsert_messages = self._message_upsert()

    @property
    def shown_url(self) -> str:
        return self._shown

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, then create or migrate the schema."""
        self._engine = self._make_engine()
        try:
            async with self._guard("opening the database"):
                if self.read_only:
                    await self._check_read_only_schema()
                    return
                if self.dialect == "sqlite":
                    await self._ensure_wal(self._engine)
                async with self._write() as conn:
                    await conn.run_sync(_schema.migrate)
        except BaseException:
            await self._engine.dispose()
            self._engine = None
            raise

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    async def _check_read_only_schema(self) -> None:
        async with self._read() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            if _schema.VERSION_TABLE not in tables:
                raise StorageError(f"{self._shown} is read-only and holds no thread store; it cannot be set up")
            version = await conn.run_sync(lambda c: _schema.read_version(c, create=False))
        if version > _schema.LATEST_VERSION:
            raise SchemaVersionError(
                f"the database schema is version {version}, newer than the version {_schema.LATEST_VERSION} "
                "this tyler understands; upgrade tyler (the database was left untouched)"
            )
        if version < _schema.LATEST_VERSION:
            raise StorageError(f"{self._shown} is read-only and at schema version {version}; it cannot be migrated")
        log.warning("%s is read-only: threads can be read, but saving them is impossible", self._shown)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StorageError(
                f"{self._shown} is read-only (no write permission): threads can be read, saving is impossible"
            )

    def _make_engine(self) -> AsyncEngine:
        opts: dict[str, Any] = {"json_serializer": _raw, "json_deserializer": _raw}
        if self.dialect == "sqlite":
            self._check_sqlite_path()
            url = self.url
            path = Path(url.database or "").expanduser().absolute()
            self.read_only = path.is_file() and not os.access(path, os.W_OK)
            if self.read_only:
                # Opened read-write, SQLite fails at the first statement: "attempt to write a readonly database".
                query = {**url.query, "mode": "ro", "uri": "true"}
                shm = path.with_name(path.name + "-shm")
                if not os.access(path.parent, os.W_OK) and not shm.exists():
                    # A WAL database is read through its -shm file, which cannot be created here.
                    # Nothing writes the file either (no permission), so it is read as immutable.
                    query["immutable"] = "1"
                url = url.set(database=f"file:{path}", query=query)
            engine = create_async_engine(
                url,
                connect_args={"timeout": self._busy_timeout},
                pool_reset_on_return=None,  # every use ends in an explicit COMMIT or ROLLBACK
                **opts,
            )
            self._setup_sqlite(engine)
            return engine
        return create_async_engine(
            self.url,
            pool_pre_ping=True,
            pool_reset_on_return=None,  # every use ends in an explicit COMMIT or ROLLBACK
            connect_args={"timeout": self._connect_timeout, "command_timeout": self._command_timeout},
            **opts,
        )

    def _check_sqlite_path(self) -> None:
        parent = Path(self.url.database or "").expanduser().absolute().parent
        if not parent.is_dir():
            raise StorageError(f"cannot open {self._shown}: directory {str(parent)!r} does not exist (create it first)")

    def _setup_sqlite(self, engine: AsyncEngine) -> None:
        busy_ms = int(self._busy_timeout * 1000)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the driver so BEGIN is ours (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in (  # journal_mode=WAL is persistent: set once by _ensure_wal
                "synchronous=NORMAL",
                "foreign_keys=ON",
                f"busy_timeout={busy_ms}",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the write lock up front: a deferred transaction that reads and then
            # writes can fail with SQLITE_BUSY instead of waiting for the busy timeout.
            write = conn.get_execution_options().get("tyler_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    async def _ensure_wal(self, engine: AsyncEngine) -> None:
        """Switch the file to WAL mode (persistent), retrying while another opener holds it.

        Changing the journal mode needs the database to itself and fails at once with "database
        is locked" (no busy handler) when a second process opens a brand-new file at the same time.
        """
        deadline = time.monotonic() + self._busy_timeout
        async with engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection  # the aiosqlite connection
            while True:
                try:
                    cursor = await raw.execute("PRAGMA journal_mode=WAL")
                    await cursor.close()
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)

    # -- plumbing ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self, action: str) -> AsyncIterator[None]:
        """Turn driver/SQLAlchemy/network failures into `StorageError` naming what failed."""
        try:
            yield
        except TylerError:
            raise
        except Exception as exc:  # TimeoutError and OSError included
            raise StorageError(f"{action} failed ({self._shown}): {type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._engine is None:
            raise StorageError("the thread store is closed")
        async with self._engine.connect() as conn:
            await conn.execution_options(tyler_write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        if self._engine is None:
            raise StorageError("the thread store is closed")
        async with self._engine.connect() as conn, conn.begin():
            yield conn

    # -- writes ------------------------------------------------------------------------------

    # Written as SQL text: the dialect `insert().on_conflict_do_update()` constructs are not
    # cacheable, and recompiling them on every save costs more than the save itself.
    def _thread_upsert(self, write_meta: bool) -> Any:
        meta = ", title = excluded.title, attributes = excluded.attributes" if write_meta else ""
        sql = (
            "INSERT INTO tyler_threads (id, title, attributes, created_at, updated_at, last_seq) "
            "VALUES (:id, :title, :attributes, :created_at, :updated_at, :last_seq) "
            "ON CONFLICT (id) DO UPDATE SET last_seq = tyler_threads.last_seq + excluded.last_seq, "
            "updated_at = CASE WHEN excluded.updated_at > tyler_threads.updated_at "
            f"THEN excluded.updated_at ELSE tyler_threads.updated_at END{meta} "
            "RETURNING last_seq"
        )
        return text(sql).bindparams(
            bindparam("created_at", type_=UTCDateTime()), bindparam("updated_at", type_=UTCDateTime())
        )

    def _message_upsert(self) -> Any:
        columns = ("thread_id", "seq", *MESSAGE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in MESSAGE_COLUMNS if c != "id")
        sql = (
            f"INSERT INTO tyler_messages ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT (thread_id, id) DO UPDATE SET {updates}"
        )
        return text(sql).bindparams(bindparam("timestamp", type_=UTCDateTime()))

    async def write(self, plan: Plan) -> None:
        """Apply `plan` in one transaction."""
        self._check_writable()
        tid = plan.thread_row["id"]
        n = len(plan.rows)
        async with self._guard(f"saving thread {tid!r}"), self._write() as conn:
            upsert = self._upsert_thread_with_meta if plan.write_meta else self._upsert_thread_counters
            result = await conn.execute(upsert, {**plan.thread_row, "last_seq": n})
            last = int(result.scalar_one())
            if n:
                first = last - n + 1
                params = [{**row, "thread_id": tid, "seq": first + i} for i, row in enumerate(plan.rows)]
                await conn.execute(self._upsert_messages, params)

    async def delete(self, thread_id: str) -> bool:
        self._check_writable()
        async with self._guard(f"deleting thread {thread_id!r}"), self._write() as conn:
            await conn.execute(delete(messages).where(messages.c.thread_id == thread_id))
            result = await conn.execute(delete(threads).where(threads.c.id == thread_id))
            return bool(result.rowcount)

    # -- reads -------------------------------------------------------------------------------

    async def load(self, thread_id: str) -> Thread | None:
        async with self._guard(f"loading thread {thread_id!r}"), self._read() as conn:
            row = (await conn.execute(select(threads).where(threads.c.id == thread_id))).mappings().first()
            if row is None:
                return None
            query = select(messages).where(messages.c.thread_id == thread_id).order_by(messages.c.seq)
            rows = (await conn.execute(query)).mappings().all()
        return decode_thread(row, [decode_message(r, thread_id) for r in rows])

    async def page(self, limit: int | None, offset: int) -> ThreadList:
        """Threads, most recently updated first."""
        query = select(threads).order_by(threads.c.updated_at.desc(), threads.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return await self._load_many(query, "listing threads")

    async def find(self, attributes: dict[str, Any]) -> ThreadList:
        """Candidate threads for an attribute query (the caller applies the exact match)."""
        query = select(threads).order_by(threads.c.updated_at.desc(), threads.c.id)
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            from ._codec import _to_json

            wanted = bindparam("wanted", _to_json(attributes, nul=False), type_=JSONB())
            query = query.where(threads.c.attributes.op("@>")(wanted))
        else:
            for key, value in attributes.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool) and '"' not in key:
                    query = query.where(func.json_extract(threads.c.attributes, f'$."{key}"') == value)
        return await self._load_many(query, "querying threads")

    async def _load_many(self, query: Any, action: str) -> ThreadList:
        async with self._guard(action), self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
            by_thread: dict[str, list[Any]] = {r["id"]: [] for r in rows}
            ids = list(by_thread)
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                mq = (
                    select(messages)
                    .where(messages.c.thread_id.in_(chunk))
                    .order_by(messages.c.thread_id, messages.c.seq)
                )
                for m in (await conn.execute(mq)).mappings():
                    by_thread[m["thread_id"]].append(m)
        return decode_many([(row, by_thread[row["id"]]) for row in rows])
