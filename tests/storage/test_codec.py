"""The row codec must cover every field of the models, or a new field would silently not be stored."""

from __future__ import annotations

from tyler import Message, Thread
from tyler.storage._codec import MESSAGE_COLUMNS, encode_thread
from tyler.storage._schema import messages, threads


def test_every_message_field_has_a_column() -> None:
    assert set(Message.model_fields) == set(MESSAGE_COLUMNS)
    assert set(MESSAGE_COLUMNS) | {"thread_id", "seq"} == set(messages.c.keys())


def test_every_thread_field_is_stored() -> None:
    stored = set(encode_thread(Thread())) | {"messages"}
    assert set(Thread.model_fields) == stored
    assert set(encode_thread(Thread())) | {"last_seq"} == set(threads.c.keys())
