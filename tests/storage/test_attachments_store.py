"""Attachments through a ThreadStore and its FileStore, on memory, SQLite and PostgreSQL.

Bytes go to the file store's folder, message rows keep references only, loading gives the
attachments back, deleting the thread deletes its files; refused files leave nothing stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from files_helpers import png
from tyler import Agent, FileStore, Message, Thread, ThreadStore
from tyler.exceptions import AttachmentError, ConfigurationError, StorageError
from tyler.testing import FakeModelServer, Turn


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


async def test_round_trip_and_delete(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    image = png(3, 3, (0, 0, 255))
    thread = Thread(id="t-1")
    message = thread.add_message(Message(role="user", content="two files"))
    a = message.add_attachment(image, filename="blue.png")
    b = message.add_attachment(b"hello notes", filename="notes.txt")
    async with ThreadStore(db_url, file_store=FileStore(folder)) as store:
        await store.save(thread)
        assert sorted(p.read_bytes() for p in files_in(folder)) == sorted([image, b"hello notes"])
        assert all(x.storage_path and x.storage_path.startswith("t-1/") for x in (a, b))

    # A new store on the same database and folder: references come back, bytes read on demand.
    async with ThreadStore(db_url, file_store=FileStore(folder)) as store:
        loaded = await store.get_thread("t-1")
        got = loaded.messages[0].attachments
        assert got == [a, b]
        assert got[0].content is None  # not read until needed
        assert await got[0].get_content() == image
        assert await got[1].get_content() == b"hello notes"
        assert await store.delete("t-1")
    assert files_in(folder) == []


async def test_memory_store_round_trip_and_delete(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    thread = Thread(id="m-1")
    thread.add_message(Message(role="user", content="x")).add_attachment(png(), filename="a.png")
    async with ThreadStore(file_store=FileStore(folder)) as store:
        await store.save(thread)
        loaded = await store.get_thread("m-1")
        assert await loaded.messages[0].attachments[0].get_content() == png()
        await store.delete("m-1")
    assert files_in(folder) == []


async def test_rows_hold_references_never_base64(db_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    image = png(8, 8, (1, 2, 3))
    thread = Thread(id="refs")
    thread.add_message(Message(role="user", content="pic")).add_attachment(image, filename="p.png")
    async with ThreadStore(db_url, file_store=FileStore(tmp_path / "f")) as store:
        await store.save(thread)
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM tyler_messages"))).mappings().one()
    finally:
        await engine.dispose()
    import base64

    everything = " ".join(str(v) for v in row.values())
    assert base64.b64encode(image).decode()[:40] not in everything
    assert hashlib.sha256(image).hexdigest() in str(row["attachments"])


async def test_oversize_and_wrong_type_are_refused_and_nothing_is_stored(url: str | None, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    files = FileStore(folder, max_file_size=1000, allowed_mime_types={"image/*", "text/plain"})
    async with ThreadStore(url, file_store=files) as store:
        big = Thread(id="big")
        big.add_message(Message(role="user", content="ok")).add_attachment(b"a" * 1001, filename="big.txt")
        with pytest.raises(AttachmentError, match="1001 bytes; the file store accepts at most 1000"):
            await store.save(big)
        wrong = Thread(id="wrong")
        msg = wrong.add_message(Message(role="user", content="ok"))
        msg.add_attachment(png(), filename="fine.png")  # allowed, but must not be written alone
        msg.add_attachment(b"%PDF-1.4 whatever", filename="doc.pdf")
        with pytest.raises(AttachmentError, match="type application/pdf, which the file store does not accept"):
            await store.save(wrong)
        assert await store.get("big") is None and await store.get("wrong") is None
        assert files_in(folder) == []
        # The refused file removed, the thread saves.
        msg.attachments.pop()
        await store.save(wrong)
        assert len(files_in(folder)) == 1


async def test_run_with_stored_thread_sends_the_image(env: FakeModelServer, db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "files"
    async with ThreadStore(db_url, file_store=FileStore(folder)) as store:
        thread = Thread(id="vision")
        thread.add_message(Message(role="user", content="describe")).add_attachment(png(), filename="r.png")
        await store.save(thread)
    env.enqueue(Turn(text="Red."))
    async with ThreadStore(db_url, file_store=FileStore(folder)) as store:
        agent = Agent(model_name="anthropic/claude-sonnet-4-5", thread_store=store)
        result = await agent.run("vision")  # loaded by id: bytes come from the file store
        assert result.content == "Red."
    assert env.requests[0].images[0]["data"] == png()


async def test_run_refuses_oversize_attachment_as_an_error_event(env: FakeModelServer, tmp_path: Path) -> None:
    from tyler import EventType

    store = ThreadStore(file_store=FileStore(tmp_path / "f", max_file_size=10))
    thread = Thread()
    thread.add_message(Message(role="user", content="x")).add_attachment(b"0123456789ab", filename="a.txt")
    events = [e async for e in Agent(model_name="gpt-4o", thread_store=store).stream(thread)]
    assert events[-1].type is EventType.EXECUTION_ERROR
    assert isinstance(events[-1].data["exception"], AttachmentError)
    assert env.requests == []  # refused before any model call


def test_file_store_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="max_file_size"):
        FileStore(tmp_path, max_file_size=0)
    with pytest.raises(ConfigurationError, match="file_store must be a FileStore"):
        ThreadStore(file_store=str(tmp_path))  # type: ignore[arg-type]


async def test_storage_paths_cannot_escape_the_folder(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "files")
    with pytest.raises(StorageError, match="invalid attachment storage path"):
        await files.read("../../etc/passwd")
    thread = Thread(id="../../escape")
    thread.add_message(Message(role="user", content="x")).add_attachment(b"data", filename="a.txt")
    async with ThreadStore(file_store=files) as store:
        await store.save(thread)
        assert all(p.is_relative_to(tmp_path / "files") for p in files_in(tmp_path))
        await store.delete("../../escape")
    assert files_in(tmp_path) == []
