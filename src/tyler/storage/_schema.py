"""Tables of the SQL thread store and their versioned migrations.

Why not Alembic: the store owns two tables and a handful of indexes, and must migrate itself when
`ThreadStore.create()` opens a database (no separate `alembic upgrade` step, no migration scripts
on disk to package). A numbered list of explicit DDL steps plus a one-row `tyler_schema_version`
table gives the same guarantees for that size: every step runs in one transaction together with
the version bump (PostgreSQL and SQLite both have transactional DDL), concurrent openers are
serialized (advisory lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), and a database whose
version is newer than `LATEST_VERSION` is refused with `SchemaVersionError` instead of being
written by code that does not understand it.

Migration steps are frozen: never edit a released step, append a new one.

The query-side `Table` objects below describe the *latest* schema. The store's engine is created
with pass-through JSON (de)serializers: `_codec` encodes and decodes JSON itself, so a corrupt
value is reported with the thread and row it came from, and what is hashed/compared is exactly
the text that was written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from ..exceptions import SchemaVersionError

LATEST_VERSION = 3
VERSION_TABLE = "tyler_schema_version"


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware.

    PostgreSQL keeps them in `timestamptz`; SQLite has no timestamp type, so they are stored as
    naive UTC text (which sorts chronologically). A naive datetime from the caller is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        inner = super().result_processor(dialect, coltype)
        if inner is None:  # pragma: no cover - every dialect of ours has one
            return None

        def process(value: Any) -> Any:
            # A garbage value in one row must not fail the whole query (and with it every
            # thread listed alongside); passed on raw, the codec reports it for that row alone.
            try:
                return inner(value)
            except (ValueError, TypeError, AttributeError):
                return value

        return process


metadata = MetaData()
_JSON = JSON(none_as_null=True)

threads = Table(
    "tyler_threads",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text),
    Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Highest message sequence number handed out for this thread. Bumping it is what serializes
    # concurrent appenders (row lock on PostgreSQL, write lock on SQLite).
    Column("last_seq", BigInteger, nullable=False),
)

messages = Table(
    "tyler_messages",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("role", Text, nullable=False),
    Column("content", _JSON),  # a string, a list of parts, or null
    Column("name", Text),
    Column("tool_call_id", Text),
    Column("tool_calls", _JSON),
    Column("reasoning_content", Text),
    Column("thinking_blocks", _JSON),  # signed thinking blocks
    Column("timestamp", UTCDateTime, nullable=False),
    Column("metrics", _JSON, nullable=False),
    Column("attributes", _JSON, nullable=False),
    Column("interrupted", Boolean, nullable=False),
    Column("attachments", _JSON, nullable=False),  # references into the FileStore (version 3)
)


def _v1(dialect: str) -> list[str]:
    pg = dialect == "postgresql"
    ts = "TIMESTAMPTZ" if pg else "TIMESTAMP"
    json_type = "JSON"
    return [
        f"""CREATE TABLE tyler_threads (
            id TEXT PRIMARY KEY,
            title TEXT,
            attributes {"JSONB" if pg else json_type} NOT NULL,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            last_seq BIGINT NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE tyler_messages (
            thread_id TEXT NOT NULL REFERENCES tyler_threads (id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            role TEXT NOT NULL,
            content {json_type},
            name TEXT,
            tool_call_id TEXT,
            tool_calls {json_type},
            reasoning_content TEXT,
            thinking_blocks {json_type},
            timestamp {ts} NOT NULL,
            metrics {json_type} NOT NULL,
            attributes {json_type} NOT NULL,
            interrupted BOOLEAN NOT NULL DEFAULT FALSE,
            PRIMARY KEY (thread_id, id),
            CONSTRAINT uq_tyler_messages_seq UNIQUE (thread_id, seq)
        )""",
    ]


def _v2(dialect: str) -> list[str]:
    # list()/list_recent() order by recency; find_by_attributes() uses JSONB containment.
    steps = ["CREATE INDEX ix_tyler_threads_updated ON tyler_threads (updated_at DESC, id)"]
    if dialect == "postgresql":
        steps.append("CREATE INDEX ix_tyler_threads_attributes ON tyler_threads USING GIN (attributes jsonb_path_ops)")
    return steps


def _v3(dialect: str) -> list[str]:
    # Attachment references (the bytes live in the FileStore, not in the table).
    return ["ALTER TABLE tyler_messages ADD COLUMN attachments JSON NOT NULL DEFAULT '[]'"]


# version -> DDL statements that bring version-1 to version. Append only.
MIGRATIONS: dict[int, Callable[[str], list[str]]] = {1: _v1, 2: _v2, 3: _v3}
assert max(MIGRATIONS) == LATEST_VERSION


def read_version(conn: Connection, *, create: bool = True) -> int:
    """The schema version recorded in the database (0 for an empty database)."""
    if create:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
    row = conn.execute(text(f"SELECT max(version) FROM {VERSION_TABLE}")).scalar()
    return int(row or 0)


def migrate(conn: Connection, target: int = LATEST_VERSION) -> int:
    """Bring the schema to `target` inside the caller's (write) transaction; return the old version.

    Raises `SchemaVersionError` if the database is newer than this code knows.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Two processes opening a fresh database at once must not both create the tables.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('tyler_schema_version'))"))
    current = read_version(conn)
    if current > LATEST_VERSION:
        raise SchemaVersionError(
            f"the database schema is version {current}, newer than the version {LATEST_VERSION} this "
            f"tyler understands; upgrade tyler (the database was left untouched)"
        )
    for version in range(current + 1, target + 1):
        for ddl in MIGRATIONS[version](dialect):
            conn.exec_driver_sql(ddl)
    if target > current:
        conn.exec_driver_sql(f"DELETE FROM {VERSION_TABLE}")
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version) VALUES (:v)"), {"v": target})
    return current
