"""What only a real database shows: rows written, transactions, processes, schema, bad input.

Each test runs on a SQLite file and on a fresh PostgreSQL database (see conftest).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tyler import Message, Thread, ThreadStore
from tyler.exceptions import ConfigurationError, SchemaVersionError, StorageError
from tyler.storage import SCHEMA_VERSION
from tyler.storage._schema import migrate


async def run_sql(url: str, *statements: str) -> list[Any]:
    """Execute statements on their own connection; returns the rows of the last one."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.exec_driver_sql(statement)
            return list(result.all()) if result is not None and result.returns_rows else []
    finally:
        await engine.dispose()


def is_pg(url: str) -> bool:
    return url.startswith("postgresql")


async def install_audit(url: str) -> None:
    """Count every INSERT and UPDATE on the messages table into tyler_audit."""
    if is_pg(url):
        await run_sql(
            url,
            "CREATE TABLE tyler_audit (op TEXT)",
            "CREATE FUNCTION tyler_audit_fn() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO tyler_audit VALUES (TG_OP); RETURN NEW; END $$",
            "CREATE TRIGGER tyler_audit_t AFTER INSERT OR UPDATE ON tyler_messages "
            "FOR EACH ROW EXECUTE FUNCTION tyler_audit_fn()",
        )
    else:
        await run_sql(
            url,
            "CREATE TABLE tyler_audit (op TEXT)",
            "CREATE TRIGGER tyler_audit_i AFTER INSERT ON tyler_messages "
            "BEGIN INSERT INTO tyler_audit VALUES ('INSERT'); END",
            "CREATE TRIGGER tyler_audit_u AFTER UPDATE ON tyler_messages "
            "BEGIN INSERT INTO tyler_audit VALUES ('UPDATE'); END",
        )


async def audit(url: str) -> list[str]:
    rows = await run_sql(url, "SELECT op FROM tyler_audit")
    await run_sql(url, "DELETE FROM tyler_audit")
    return sorted(r[0] for r in rows)


async def test_append_writes_one_row_not_the_whole_thread(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    thread = Thread(id="big")
    for i in range(500):
        thread.add_message(Message(role="user" if i % 2 else "assistant", content=f"message {i}"))
    await store.save(thread)
    await install_audit(db_url)

    thread.add_message(Message(role="user", content="one more"))
    await store.save(thread)
    assert await audit(db_url) == ["INSERT"]

    thread.messages[400].metrics["edited"] = True  # within the default edit window
    thread.add_message(Message(role="assistant", content="and another"))
    await store.save(thread)
    assert await audit(db_url) == ["INSERT", "UPDATE"]

    await store.save(thread)  # nothing changed: nothing written
    assert await audit(db_url) == []

    loaded = await store.get_thread("big")
    assert len(loaded.messages) == 502 and loaded.messages[400].metrics == {"edited": True}
    loaded.add_message(Message(role="user", content="after reload"))
    await store.save(loaded)
    assert await audit(db_url) == ["INSERT"]
    await store.close()


async def install_boom(url: str) -> None:
    """Make the database reject any message whose content is "BOOM"."""
    if is_pg(url):
        await run_sql(
            url,
            "CREATE FUNCTION tyler_boom_fn() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.content::text = '\"BOOM\"' THEN RAISE EXCEPTION 'boom'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER tyler_boom BEFORE INSERT ON tyler_messages FOR EACH ROW EXECUTE FUNCTION tyler_boom_fn()",
        )
    else:
        await run_sql(
            url,
            "CREATE TRIGGER tyler_boom BEFORE INSERT ON tyler_messages WHEN NEW.content = '\"BOOM\"' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )


async def test_failed_save_leaves_the_stored_thread_as_it_was(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    thread = Thread(id="tx", title="before")
    thread.add_message(Message(role="user", content="one"))
    await store.save(thread)
    before = await run_sql(db_url, "SELECT title, last_seq, updated_at FROM tyler_threads")
    await install_boom(db_url)

    thread.title = "after"
    thread.add_message(Message(role="assistant", content="fine"))
    thread.add_message(Message(role="user", content="BOOM"))
    with pytest.raises(StorageError, match="boom"):
        await store.save(thread)
    assert await run_sql(db_url, "SELECT title, last_seq, updated_at FROM tyler_threads") == before
    assert [m.content for m in (await store.get_thread("tx")).messages] == ["one"]

    await run_sql(db_url, "DROP TRIGGER tyler_boom ON tyler_messages" if is_pg(db_url) else "DROP TRIGGER tyler_boom")
    await store.save(thread)  # retried as a whole
    stored = await store.get_thread("tx")
    assert ([m.content for m in stored.messages], stored.title) == (["one", "fine", "BOOM"], "after")
    await store.close()


WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from tyler import Message, ThreadStore

    async def main(url, tag, count, crash):
        store = await ThreadStore.create(url)
        thread = await store.get_thread("shared")
        for i in range(count):
            thread.add_message(Message(role="user", content=f"{tag}{i}"))
            await store.save_thread(thread)
        if crash:
            os.kill(os.getpid(), signal.SIGKILL)  # no close(), no clean shutdown
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "crash"))
    """
)


def spawn_writer(url: str, tag: str, count: int, crash: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, tag, str(count), "crash" if crash else "clean"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_two_processes_appending_lose_nothing(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    seed = Thread(id="shared")
    seed.add_message(Message(role="system", content="seed"))
    await store.save(seed)
    procs = [spawn_writer(db_url, tag, 40) for tag in ("a", "b")]
    for proc in procs:
        _, err = await asyncio.to_thread(proc.communicate, timeout=120)
        assert proc.returncode == 0, err.decode()
    contents = [m.content for m in (await store.get_thread("shared")).messages]
    assert contents[0] == "seed" and len(contents) == 81
    for tag in ("a", "b"):
        assert [c for c in contents if c.startswith(tag)] == [f"{tag}{i}" for i in range(40)]
    await store.close()


async def test_two_stores_writing_concurrently_lose_nothing(db_url: str) -> None:
    # Two stores = two connection pools: the database, not a Python lock, must serialize them.
    a, b = await ThreadStore.create(db_url), await ThreadStore.create(db_url)
    await a.save(Thread(id="shared"))
    ta, tb = await a.get_thread("shared"), await b.get_thread("shared")

    async def writer(store: ThreadStore, thread: Thread, tag: str) -> None:
        for i in range(30):
            thread.add_message(Message(role="user", content=f"{tag}{i}"))
            await store.save(thread)

    await asyncio.gather(writer(a, ta, "a"), writer(b, tb, "b"))
    contents = [m.content for m in (await a.get_thread("shared")).messages]
    assert sorted(contents) == sorted([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(30)])
    assert [c for c in contents if c.startswith("a")] == [f"a{i}" for i in range(30)]
    await a.close()
    await b.close()


async def test_a_killed_process_keeps_what_it_saved(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    await store.save(Thread(id="shared"))
    proc = spawn_writer(db_url, "k", 5, crash=True)
    await asyncio.to_thread(proc.communicate, timeout=120)
    assert proc.returncode == -9
    assert [m.content for m in (await store.get_thread("shared")).messages] == [f"k{i}" for i in range(5)]
    await store.close()


async def test_fresh_database_gets_the_latest_schema(db_url: str) -> None:
    # Two stores opening the same empty database at once both succeed.
    a, b = await asyncio.gather(ThreadStore.create(db_url), ThreadStore.create(db_url))
    assert await run_sql(db_url, "SELECT version FROM tyler_schema_version") == [(SCHEMA_VERSION,)]
    await a.close()
    await b.close()


async def test_older_schema_is_migrated_with_its_data(db_url: str) -> None:
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(migrate, 1)
        await conn.execute(
            text(
                "INSERT INTO tyler_threads (id, title, attributes, created_at, updated_at, last_seq) "
                "VALUES ('old', 'Old', '{\"v\": 1}', :ts, :ts, 1)"
            ),
            {"ts": Thread().created_at},
        )
        await conn.execute(
            text(
                "INSERT INTO tyler_messages (thread_id, id, seq, role, content, timestamp, metrics, attributes, "
                "interrupted) VALUES ('old', 'm1', 1, 'user', '\"from v1\"', :ts, '{}', '{}', false)"
            ),
            {"ts": Thread().created_at},
        )
    await engine.dispose()
    assert await run_sql(db_url, "SELECT version FROM tyler_schema_version") == [(1,)]

    store = await ThreadStore.create(db_url)
    assert await run_sql(db_url, "SELECT version FROM tyler_schema_version") == [(SCHEMA_VERSION,)]
    old = await store.get_thread("old")
    assert (old.title, old.attributes, old.messages[0].content) == ("Old", {"v": 1}, "from v1")
    old.add_message(Message(role="assistant", content="from v2"))
    await store.save(old)
    assert [m.content for m in (await store.get_thread("old")).messages] == ["from v1", "from v2"]
    await store.close()


async def test_newer_schema_is_refused_untouched(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    await store.close()
    await run_sql(db_url, "UPDATE tyler_schema_version SET version = 99")
    with pytest.raises(SchemaVersionError, match="99"):
        await ThreadStore.create(db_url)
    assert await run_sql(db_url, "SELECT version FROM tyler_schema_version") == [(99,)]


@pytest.mark.parametrize(
    ("column", "value"),
    [("role", "'robot'"), ("metrics", "'[1, 2]'"), ("content", "'{not json'")],
)
async def test_corrupt_row_is_a_clear_error(db_url: str, column: str, value: str) -> None:
    if is_pg(db_url) and column == "content":
        pytest.skip("PostgreSQL's json type rejects invalid JSON itself")
    store = await ThreadStore.create(db_url)
    thread = Thread(id="corrupt")
    thread.add_message(Message(role="user", content="fine"))
    thread.add_message(Message(role="user", content="damaged"))
    await store.save(thread)
    await run_sql(db_url, f"UPDATE tyler_messages SET {column} = {value} WHERE seq = 2")
    with pytest.raises(StorageError, match=r"corrupt message row in thread 'corrupt' \(seq 2\)"):
        await store.get_thread("corrupt")
    listed = await store.list_threads()  # the corrupt thread is skipped and reported, not fatal
    assert listed == [] and "corrupt message row in thread 'corrupt'" in str(listed.skipped[0])
    await store.close()


@pytest.mark.parametrize(
    "bad",
    ["not a url", "mysql+aiomysql://u@127.0.0.1/db", "sqlite+pysqlcipher:///x.db", "postgresql+pg8000://u@h/d", 42],
)
def test_unsupported_urls_are_configuration_errors(bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        ThreadStore(bad)


async def test_unreachable_postgres_is_a_storage_error() -> None:
    store = ThreadStore("postgresql+asyncpg://postgres:secret@127.0.0.1:1/test", connect_timeout=5)
    with pytest.raises(StorageError, match="opening the database failed") as info:
        await store.initialize()
    assert "secret" not in str(info.value)


class StallingProxy:
    """A loopback TCP proxy to PostgreSQL that can stop forwarding: a server that stops answering."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.postgres
async def test_server_that_stops_answering_mid_session_is_a_storage_error(pg_url: str) -> None:
    real = make_url(pg_url)
    proxy = StallingProxy(real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=await proxy.start()).render_as_string(hide_password=False)
    store = await ThreadStore.create(url, connect_timeout=2, command_timeout=2)
    thread = Thread(id="stall")
    thread.add_message(Message(role="user", content="saved"))
    await store.save(thread)
    proxy.flowing.clear()
    thread.add_message(Message(role="user", content="not saved"))
    # wait_for only guards the test run; the store's own timeouts must end the call first.
    with pytest.raises(StorageError, match="saving thread 'stall' failed"):
        await asyncio.wait_for(store.save(thread), 30)
    proxy.flowing.set()
    await store.save(thread)  # the failed save is retried once the server answers again
    assert [m.content for m in (await store.get_thread("stall")).messages] == ["saved", "not saved"]
    await store.close()
    await proxy.stop()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", True])
def test_timeouts_must_be_positive_numbers(bad: Any) -> None:
    for name in ("connect_timeout", "busy_timeout", "command_timeout"):
        with pytest.raises(ConfigurationError, match=name):
            ThreadStore(None, **{name: bad})


async def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 'nowhere' / 'chat.db'}")


async def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.write_text("this is not a database" * 100)
    with pytest.raises(StorageError, match="not a database"):
        await ThreadStore.create(f"sqlite+aiosqlite:///{path}")


async def test_sqlite_relative_path_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with ThreadStore("sqlite+aiosqlite:///chat.db") as store:
        await store.save(Thread(id="here"))
        assert store.dialect == "sqlite"
    assert (tmp_path / "chat.db").exists()
    async with ThreadStore("sqlite:///chat.db") as again:  # plain sqlite:// uses aiosqlite too
        assert await again.get("here") is not None


def test_url_spellings_are_normalized() -> None:
    assert ThreadStore("postgres://postgres@127.0.0.1/test").url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert ThreadStore("postgresql://u:pw@127.0.0.1/db").url == "postgresql+asyncpg://u:***@127.0.0.1/db"
    assert ThreadStore("sqlite:///x.db").url == "sqlite+aiosqlite:///x.db"
    assert ThreadStore().url is None and ThreadStore().dialect == "memory"


async def test_sqlite_memory_url_is_the_memory_backend() -> None:
    async with ThreadStore("sqlite+aiosqlite://") as store:
        assert store.dialect == "memory"


def test_import_tyler_does_not_import_sqlalchemy() -> None:
    code = "import sys, tyler; assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'; tyler.ThreadStore"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=False
    )
    assert result.returncode == 0, result.stderr


async def test_corrupt_thread_row_is_a_clear_error(db_url: str) -> None:
    store = await ThreadStore.create(db_url)
    await store.save(Thread(id="bad-thread", attributes={"k": 1}))
    await run_sql(db_url, "UPDATE tyler_threads SET attributes = '[1, 2]' WHERE id = 'bad-thread'")
    with pytest.raises(StorageError, match="corrupt thread row 'bad-thread'"):
        await store.get_thread("bad-thread")
    await store.close()
