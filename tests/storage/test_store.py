"""The behavioural suite of ThreadStore, run on memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tyler import Message, Thread, ThreadStore
from tyler.exceptions import ConfigurationError, StorageError, ThreadNotFoundError


def full_thread() -> Thread:
    """A thread using every Message field, including the JSON ones."""
    thread = Thread(id="t-full", title="Everything", attributes={"user": "ada", "tags": ["a", "b"], "n": 3})
    thread.add_message(Message(role="system", content="be brief"))
    thread.add_message(Message(role="user", content=[{"type": "text", "text": "hi"}], name="ada"))
    thread.add_message(
        Message(
            role="assistant",
            content=None,
            reasoning_content="Let me think… 137 * 284",
            thinking_blocks=[{"type": "thinking", "thinking": "hmm", "signature": "sig=="}],
            tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "calc", "arguments": '{"a": 1}'}}],
            metrics={"model": "gpt-4", "usage": {"prompt_tokens": 3, "total_tokens": 5}, "latency_ms": 1.5},
        )
    )
    thread.add_message(Message(role="tool", content="38908", tool_call_id="call_1", name="calc"))
    thread.add_message(
        Message(role="assistant", content="The answer is 38,908 — ✓", attributes={"x": None}, interrupted=True)
    )
    return thread


async def test_round_trip_keeps_every_field(store: ThreadStore) -> None:
    thread = full_thread()
    await store.save_thread(thread)
    loaded = await store.get_thread(thread.id)
    assert loaded == thread
    assert loaded is not thread
    assert loaded.messages[2].thinking_blocks == [{"type": "thinking", "thinking": "hmm", "signature": "sig=="}]
    assert loaded.messages[-1].interrupted is True
    assert loaded.messages[0].timestamp.tzinfo is not None
    # The store's bookkeeping is not part of the value: saved and loaded threads still equal
    # their JSON round trip.
    assert Thread.model_validate_json(thread.model_dump_json()) == thread
    assert Thread.model_validate_json(loaded.model_dump_json()) == loaded


async def test_missing_thread(store: ThreadStore) -> None:
    assert await store.get("nope") is None
    with pytest.raises(ThreadNotFoundError) as info:
        await store.get_thread("nope")
    assert isinstance(info.value, KeyError)
    assert "nope" in str(info.value)


async def test_spec_resume_pattern(url: str | None) -> None:
    """The terminal chat of the streaming guide: get_thread or start anew, then save_thread."""
    store = await ThreadStore.create(url)
    try:
        thread = await store.get_thread("main-chat")
        resumed = True
    except:  # noqa: E722 - exactly the guide's pattern
        thread = Thread(id="main-chat")
        resumed = False
    assert not resumed
    thread.add_message(Message(role="user", content="hello"))
    thread.add_message(Message(role="assistant", content="hi there"))
    await store.save_thread(thread)
    thread = await store.get_thread("main-chat")
    thread.add_message(Message(role="user", content="again"))
    await store.save_thread(thread)
    await store.save_thread(thread)  # saving twice writes nothing new
    again = await store.get_thread("main-chat")
    assert [m.content for m in again.messages] == ["hello", "hi there", "again"]
    await store.close()


async def test_append_and_edit_in_place(store: ThreadStore) -> None:
    thread = Thread(id="t-edit")
    first = thread.add_message(Message(role="user", content="q"))
    await store.save(thread)
    answer = thread.add_message(Message(role="assistant", content="partial"))
    await store.save(thread)
    answer.content = "partial answer"
    answer.interrupted = True
    first.metrics["usage"] = {"total_tokens": 7}  # nested in-place mutation
    thread.title = "Renamed"
    thread.attributes["k"] = "v"
    await store.save(thread)
    loaded = await store.get_thread("t-edit")
    assert loaded == thread
    assert loaded.messages[1].content == "partial answer" and loaded.messages[1].interrupted
    assert loaded.messages[0].metrics == {"usage": {"total_tokens": 7}}
    assert (loaded.title, loaded.attributes) == ("Renamed", {"k": "v"})


async def test_saves_are_append_only(store: ThreadStore) -> None:
    thread = Thread(id="t-append-only")
    for i in range(3):
        thread.add_message(Message(role="user", content=f"m{i}"))
    await store.save(thread)
    del thread.messages[1]  # removing from the object never deletes stored rows
    thread.add_message(Message(role="user", content="m3"))
    await store.save(thread)
    loaded = await store.get_thread("t-append-only")
    assert [m.content for m in loaded.messages] == ["m0", "m1", "m2", "m3"]


async def test_thread_saved_elsewhere_is_written_in_full_without_duplicates(url: str | None) -> None:
    store = await ThreadStore.create(url)
    thread = Thread(id="t-fresh")
    thread.add_message(Message(role="user", content="one"))
    await store.save(thread)
    copy = Thread.model_validate(thread.model_dump())  # no store bookkeeping
    copy.messages[0].content = "one (edited)"
    copy.add_message(Message(role="assistant", content="two"))
    await store.save(copy)
    loaded = await store.get_thread("t-fresh")
    assert [m.content for m in loaded.messages] == ["one (edited)", "two"]
    await store.close()


async def test_two_tasks_appending_to_one_thread_keep_everything(store: ThreadStore) -> None:
    base = Thread(id="t-tasks")
    base.add_message(Message(role="user", content="start"))
    await store.save(base)
    a, b = await store.get_thread("t-tasks"), await store.get_thread("t-tasks")

    async def writer(thread: Thread, tag: str) -> None:
        for i in range(15):
            thread.add_message(Message(role="user", content=f"{tag}{i}"))
            await store.save_thread(thread)
            await asyncio.sleep(0)

    await asyncio.gather(writer(a, "a"), writer(b, "b"))
    loaded = await store.get_thread("t-tasks")
    contents = [m.content for m in loaded.messages]
    assert contents[0] == "start" and len(contents) == 31
    assert [c for c in contents if c.startswith("a")] == [f"a{i}" for i in range(15)]
    assert [c for c in contents if c.startswith("b")] == [f"b{i}" for i in range(15)]


async def test_concurrent_saves_of_the_same_object(store: ThreadStore) -> None:
    thread = Thread(id="t-same")
    saves = []
    for i in range(10):
        thread.add_message(Message(role="user", content=str(i)))
        saves.append(store.save(thread))
    await asyncio.gather(*saves)
    loaded = await store.get_thread("t-same")
    assert [m.content for m in loaded.messages] == [str(i) for i in range(10)]


async def test_cancelled_caller_does_not_abort_the_save(store: ThreadStore) -> None:
    thread = Thread(id="t-cancel")
    thread.add_message(Message(role="user", content="keep me"))
    task = asyncio.create_task(store.save_thread(thread))
    await asyncio.sleep(0)  # the save has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if store.dialect == "memory":
        await asyncio.sleep(0.05)  # let the shielded save finish
        assert [m.content for m in (await store.get_thread("t-cancel")).messages] == ["keep me"]
        return
    await store.close()  # waits for the save in flight
    reopened = await ThreadStore.create(store.url)
    assert [m.content for m in (await reopened.get_thread("t-cancel")).messages] == ["keep me"]
    await reopened.close()


async def test_unserializable_message_fails_cleanly(store: ThreadStore) -> None:
    thread = Thread(id="t-bad")
    thread.add_message(Message(role="user", content="ok"))
    await store.save(thread)
    bad = thread.add_message(Message(role="assistant", content="x", metrics={"obj": object()}))
    with pytest.raises(StorageError, match=bad.id):
        await store.save(thread)
    assert [m.content for m in (await store.get_thread("t-bad")).messages] == ["ok"]
    bad.metrics = {"fixed": True}
    await store.save(thread)  # the failed save did not advance the bookkeeping
    assert (await store.get_thread("t-bad")).messages[1].metrics == {"fixed": True}


async def test_duplicate_message_ids_are_refused_not_merged(store: ThreadStore) -> None:
    # Two messages with one id would become one row: the thread would silently lose one.
    thread = Thread(id="t-dup")
    first = thread.add_message(Message(role="user", content="first"))
    thread.add_message(Message(role="assistant", content="second", id=first.id))
    with pytest.raises(StorageError, match=f"two messages with id {first.id!r}"):
        await store.save(thread)
    assert await store.get("t-dup") is None

    del thread.messages[1]
    await store.save(thread)
    thread.add_message(Message(role="assistant", content="fine"))
    thread.add_message(Message(role="user", content="again", id=first.id))  # appended duplicate
    with pytest.raises(StorageError, match="two messages with id"):
        await store.save(thread)
    thread.messages.pop()
    await store.save(thread)
    thread.messages.insert(0, Message(role="system", content="sys", id=thread.messages[1].id))  # restructured
    with pytest.raises(StorageError, match="two messages with id"):
        await store.save(thread)
    assert [m.content for m in (await store.get_thread("t-dup")).messages] == ["first", "fine"]


async def test_list_delete_and_query(store: ThreadStore) -> None:
    now = datetime.now(UTC)
    for i in range(5):
        t = Thread(id=f"t{i}", attributes={"owner": "ada" if i % 2 else "bob", "i": i, "flag": i == 3})
        t.add_message(Message(role="user", content=f"hello {i}"))
        t.updated_at = now + timedelta(seconds=i)
        await store.save(t)
    assert [t.id for t in await store.list_threads(limit=10)] == ["t4", "t3", "t2", "t1", "t0"]
    assert [t.id for t in await store.list(limit=2, offset=1)] == ["t3", "t2"]
    assert [t.id for t in await store.list_recent(3)] == ["t4", "t3", "t2"]
    assert (await store.list_recent())[0].messages[0].content == "hello 4"
    assert [t.id for t in await store.find_by_attributes({"owner": "ada"})] == ["t3", "t1"]
    assert [t.id for t in await store.find_by_attributes({"owner": "ada", "i": 1})] == ["t1"]
    assert [t.id for t in await store.find_by_attributes({"flag": True})] == ["t3"]
    assert await store.find_by_attributes({"i": True}) == []  # JSON equality: 1 is not true
    assert await store.find_by_attributes({"missing": None}) == []
    assert await store.delete("t1") is True
    assert await store.delete_thread("t1") is False
    assert await store.get("t1") is None
    assert len(await store.list_threads()) == 4


async def test_loaded_thread_keeps_saving_incrementally(store: ThreadStore) -> None:
    thread = Thread(id="t-listed", attributes={"k": 1})
    thread.add_message(Message(role="user", content="a"))
    await store.save(thread)
    (listed,) = await store.find_by_attributes({"k": 1})
    listed.add_message(Message(role="assistant", content="b"))
    await store.save(listed)
    assert [m.content for m in (await store.get_thread("t-listed")).messages] == ["a", "b"]


async def test_updated_at_never_goes_backwards(store: ThreadStore) -> None:
    thread = Thread(id="t-time")
    thread.add_message(Message(role="user", content="a"))
    await store.save(thread)
    newest = thread.updated_at
    stale = await store.get_thread("t-time")
    stale.add_message(Message(role="user", content="b"))
    stale.updated_at = newest - timedelta(hours=1)
    await store.save(stale)
    assert (await store.get_thread("t-time")).updated_at == newest


async def test_bad_arguments(store: ThreadStore) -> None:
    with pytest.raises(TypeError):
        await store.save({"id": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.get("")
    with pytest.raises(ValueError):
        await store.list_threads(limit=-1)


async def test_closed_store_refuses_work(url: str | None) -> None:
    async with ThreadStore(url) as store:
        await store.save(Thread(id="t-closed"))
    with pytest.raises(StorageError, match="closed"):
        await store.get("t-closed")
    await store.close()  # idempotent


async def test_one_thread_saved_to_two_stores(url: str | None) -> None:
    if url is None:
        pytest.skip("needs two stores on one database")
    a, b = await ThreadStore.create(url), await ThreadStore.create(url)
    memory = await ThreadStore.create()
    thread = Thread(id="t-two")
    thread.add_message(Message(role="user", content="x"))
    await a.save(thread)
    await memory.save(thread)
    thread.add_message(Message(role="user", content="y"))
    await a.save(thread)
    await memory.save(thread)
    await b.save(thread)  # b never saw it: full write, no duplicates
    for s in (a, b, memory):
        assert [m.content for m in (await s.get_thread("t-two")).messages] == ["x", "y"]
        await s.close()


async def test_edit_window_and_full_save(url: str | None) -> None:
    store = await ThreadStore.create(url, edit_window=3)
    thread = Thread(id="t-window")
    for i in range(8):
        thread.add_message(Message(role="user", content=f"m{i}"))
    await store.save(thread)
    thread.messages[6].content = "recent edit"  # inside the window: written by a plain save
    thread.messages[1].content = "old edit"  # outside the window: needs full=True
    await store.save(thread)
    stored = [m.content for m in (await store.get_thread("t-window")).messages]
    assert stored[6] == "recent edit" and stored[1] == "m1"
    await store.save(thread, full=True)
    stored = [m.content for m in (await store.get_thread("t-window")).messages]
    assert stored[6] == "recent edit" and stored[1] == "old edit"
    await store.close()
    every = await ThreadStore.create(url, edit_window=None) if url else store
    if url:
        loaded = await every.get_thread("t-window")
        loaded.messages[0].content = "first, edited"
        await every.save(loaded)
        assert (await every.get_thread("t-window")).messages[0].content == "first, edited"
        await every.close()
    with pytest.raises(ConfigurationError, match="edit_window"):
        ThreadStore(url, edit_window=-1)


async def test_text_no_database_can_hold_is_stored_as_replacement_characters(store: ThreadStore) -> None:
    # NUL (PostgreSQL text/jsonb refuse it) and lone surrogates (not UTF-8) used to make this save,
    # and every later save of the thread, fail; model output or a tool result can carry either.
    thread = Thread(id="t-odd", title="a\x00b", attributes={"k": "v\x00", "path": "C:\\u0000"})
    thread.add_message(Message(role="user", content="half an emoji \ud83d and a NUL \x00"))
    thread.add_message(Message(role="assistant", content="ok", reasoning_content="r\x00\udc00s", name="n\x00"))
    await store.save_thread(thread)
    thread.add_message(Message(role="user", content="next \ud800"))
    await store.save_thread(thread)  # later saves work too
    loaded = await store.get_thread("t-odd")
    assert loaded.title == "a\ufffdb"
    assert loaded.attributes == {"k": "v\ufffd", "path": "C:\\u0000"}  # a literal backslash-u0000 is kept
    first, answer, last = loaded.messages
    assert first.content == "half an emoji \ufffd and a NUL \x00"  # JSON content keeps NUL everywhere
    assert answer.reasoning_content == "r\ufffd\ufffds" and answer.name == "n\ufffd"
    assert last.content == "next \ufffd"
    assert thread.messages[0].content == "half an emoji \ud83d and a NUL \x00"  # memory keeps its text
    await store.save_thread(thread)  # nothing changed in memory: no rewrite, no error
    assert len((await store.get_thread("t-odd")).messages) == 3
