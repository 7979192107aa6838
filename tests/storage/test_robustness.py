"""Stored threads that stay usable (issue 15, items 10 and 11).

One corrupt row must not hide every other thread from listings and searches; a SQLite file the
process may not write is still readable; ids that only a cleaning step could store are refused
instead of silently merging two messages.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import pytest
from test_sql import is_pg, run_sql

from tyler import Message, Thread, ThreadStore
from tyler.exceptions import StorageError


async def _two_threads(store: ThreadStore) -> None:
    for tid in ("good", "bad"):
        thread = Thread(id=tid, attributes={"team": "x"})
        thread.add_message(Message(role="user", content=f"{tid} text"))
        await store.save(thread)


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE tyler_messages SET role = 'robot' WHERE thread_id = 'bad'",
        "UPDATE tyler_messages SET metrics = '[1, 2]' WHERE thread_id = 'bad'",
        "UPDATE tyler_threads SET title = NULL, created_at = 'garbage' WHERE id = 'bad'",
        "UPDATE tyler_messages SET timestamp = 'not a time' WHERE thread_id = 'bad'",
    ],
)
async def test_one_corrupt_thread_does_not_hide_the_others(db_url: str, damage: str) -> None:
    if is_pg(db_url) and "garbage" in damage or is_pg(db_url) and "not a time" in damage:
        pytest.skip("PostgreSQL's timestamptz refuses the value itself")
    store = await ThreadStore.create(db_url)
    try:
        await _two_threads(store)
        await run_sql(db_url, damage)
        listed = await store.list_threads()
        assert [t.id for t in listed] == ["good"]
        assert len(listed.skipped) == 1 and "'bad'" in str(listed.skipped[0])
        found = await store.find_by_attributes({"team": "x"})
        assert [t.id for t in found] == ["good"] and len(found.skipped) == 1
        assert (await store.get_thread("good")).messages[0].content == "good text"
        with pytest.raises(StorageError, match="'bad'"):
            await store.get_thread("bad")  # asked for by id, the damage is still an error
    finally:
        await store.close()


_READ_ONLY_CHILD = """
import asyncio, json, os, sys
from tyler import Message
from tyler.storage import ThreadStore
from tyler.exceptions import StorageError
import sqlalchemy.dialects.sqlite.aiosqlite  # noqa: F401  (imported before privileges are dropped)

async def use(url):
    out = {}
    store = await ThreadStore.create(url)
    out["read_only"] = store.read_only
    thread = await store.get_thread("kept")
    out["messages"] = [m.content for m in thread.messages]
    out["listed"] = [t.id for t in await store.list_threads()]
    thread.add_message(Message(role="user", content="more"))
    try:
        await store.save(thread)
        out["save"] = "saved"
    except StorageError as exc:
        out["save"] = str(exc)
    await store.close()
    return out

url = sys.argv[1]
if os.geteuid() == 0:
    # root writes whatever the mode bits say: drop to nobody, everything needed already imported.
    asyncio.run(use("sqlite+aiosqlite:///" + sys.argv[2]))  # warms lazy imports on a writable copy
    os.setgid(65534)
    os.setuid(65534)
print(json.dumps(asyncio.run(use(url))))
"""


def test_a_read_only_sqlite_file_opens_for_reading(tmp_path: Path) -> None:
    import subprocess

    folder = Path(tempfile.mkdtemp())
    try:
        db, warm = folder / "threads.db", tmp_path / "warm.db"

        async def seed(path: Path) -> None:
            store = await ThreadStore.create(f"sqlite+aiosqlite:///{path}")
            thread = Thread(id="kept")
            thread.add_message(Message(role="user", content="stored before"))
            await store.save(thread)
            await store.close()

        asyncio.run(seed(db))
        asyncio.run(seed(warm))
        db.chmod(0o444)
        folder.chmod(0o555)
        child = subprocess.run(
            [sys.executable, "-c", _READ_ONLY_CHILD, f"sqlite+aiosqlite:///{db}", str(warm)],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert child.returncode == 0, child.stderr
        out = json.loads(child.stdout.strip().splitlines()[-1])
        assert out["read_only"] is True
        assert out["messages"] == ["stored before"] and out["listed"] == ["kept"]
        assert "read-only" in out["save"] and "saving is impossible" in out["save"]
    finally:
        folder.chmod(0o755)
        for item in folder.iterdir():
            item.chmod(0o644)
            item.unlink()
        folder.rmdir()


# ---------------------------------------------------------------------------------------- ids


@pytest.mark.parametrize("bad", ["m\x00", "m\ud800", "\udfff"])
def test_ids_that_cannot_be_stored_are_refused_when_given(bad: str) -> None:
    with pytest.raises(ValueError, match="NUL or a lone surrogate"):
        Message(id=bad, role="user", content="x")
    with pytest.raises(ValueError, match="NUL or a lone surrogate"):
        Thread(id=bad)


async def test_ids_differing_only_in_unstorable_characters_never_merge(store: ThreadStore) -> None:
    thread = Thread(id="ids")
    thread.add_message(Message(id="m\ufffd", role="user", content="first"))
    second = thread.add_message(Message(id="m-tmp", role="user", content="second"))
    second.id = "m\x00"  # set after construction, where no validator runs
    with pytest.raises(StorageError, match="NUL or a lone surrogate"):
        await store.save(thread)
    second.id = "m2"
    await store.save(thread)
    stored = await store.get_thread("ids")
    assert [(m.id, m.content) for m in stored.messages] == [("m\ufffd", "first"), ("m2", "second")]
    with pytest.raises(ValueError, match="NUL or a lone surrogate"):
        await store.get_thread("ids\ud800")
    bad_thread = Thread(id="t")
    bad_thread.id = "t\ud800"
    with pytest.raises(ValueError, match="thread id"):
        await store.save(bad_thread)
