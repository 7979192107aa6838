"""Rows <-> `Message`/`Thread`, shared by every backend so all of them round-trip the same way.

A message row has one column per `Message` field; the open-ended fields (content, tool_calls,
thinking_blocks, metrics, attributes) are JSON text. Decoding validates through the pydantic
models, so a corrupt row is reported as a `StorageError` naming the thread and row, never
returned half-read.

Characters no database of ours can hold are stored as U+FFFD: lone surrogates (not UTF-8 at all,
refused by every SQL driver) anywhere, and NUL in the plain-text columns and thread attributes
(PostgreSQL's text and jsonb refuse it; its json type, used for content, keeps `\\u0000`). The
alternative, a StorageError, would make every later save of that thread fail too. The in-memory
message keeps its text; only the stored copy differs.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ..exceptions import StorageError
from ..messages import Message, Thread, check_id

# attachments: references only (id, name, type, size, digest, file store path), never the bytes.
_JSON_FIELDS = ("content", "tool_calls", "thinking_blocks", "metrics", "attributes", "attachments")
_TEXT_FIELDS = ("id", "role", "name", "tool_call_id", "reasoning_content")
_NULLABLE_JSON = {"content", "tool_calls", "thinking_blocks"}
MESSAGE_COLUMNS = (*_TEXT_FIELDS, *_JSON_FIELDS, "timestamp", "interrupted")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")  # the escape, not an escaped backslash + "u0000"


def _storable(text: Any) -> Any:
    if type(text) is not str or ("\x00" not in text and text.isascii()):
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def _to_json(value: Any, *, nul: bool = True) -> str:
    out = _dumps(value)
    if not out.isascii():
        out = _UNSTORABLE.sub("\ufffd", out)
    return out if nul else _JSON_NUL.sub("\\1\\\\ufffd", out)


def _utc(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise StorageError(f"{what} is not a datetime: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _checked_id(value: Any, what: str) -> None:
    # An id set after the model was built (no validation on assignment) is checked here.
    try:
        check_id(value, what)
    except ValueError as exc:
        raise StorageError(str(exc)) from None


def encode_message(message: Message) -> dict[str, Any]:
    """Column values of `message` (JSON fields as text)."""
    _checked_id(message.id, "message id")
    try:
        # mode="json" turns datetimes, UUIDs... nested in metrics/attributes into JSON values.
        data = message.model_dump(mode="json", include=set(_JSON_FIELDS))
        row: dict[str, Any] = {name: _storable(getattr(message, name)) for name in _TEXT_FIELDS}
        for name in _JSON_FIELDS:
            value = data[name]
            row[name] = None if value is None and name in _NULLABLE_JSON else _to_json(value)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise StorageError(f"message {message.id!r} cannot be stored as JSON: {exc}") from exc
    row["timestamp"] = _utc(message.timestamp, f"message {message.id!r} timestamp")
    row["interrupted"] = bool(message.interrupted)
    return row


def encode_thread(thread: Thread) -> dict[str, Any]:
    """Column values of the thread row (without the sequence counter)."""
    _checked_id(thread.id, "thread id")
    try:
        attributes = _to_json(thread.model_dump(mode="json", include={"attributes"})["attributes"], nul=False)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise StorageError(f"thread {thread.id!r} attributes cannot be stored as JSON: {exc}") from exc
    return {
        "id": thread.id,
        "title": _storable(thread.title),
        "attributes": attributes,
        "created_at": _utc(thread.created_at, f"thread {thread.id!r} created_at"),
        "updated_at": _utc(thread.updated_at, f"thread {thread.id!r} updated_at"),
    }


def _from_json(raw: Any, what: str) -> Any:
    if raw is None or not isinstance(raw, str | bytes):
        return raw  # NULL, or a driver that already decoded it
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON ({exc})") from exc


def decode_message(row: Any, thread_id: str) -> Message:
    """A `Message` from a row mapping; `StorageError` if the row is corrupt."""
    try:
        data = {name: row[name] for name in _TEXT_FIELDS}
        for name in _JSON_FIELDS:
            data[name] = _from_json(row[name], name)
        data["timestamp"] = row["timestamp"]
        data["interrupted"] = row["interrupted"]
        return Message.model_validate(data)
    except (ValueError, ValidationError, KeyError, TypeError) as exc:
        where = f"seq {row['seq']}" if "seq" in row else f"id {row.get('id')!r}"
        raise StorageError(f"corrupt message row in thread {thread_id!r} ({where}): {exc}") from exc


def decode_thread(row: Any, messages: list[Message]) -> Thread:
    """A `Thread` from its row and its already decoded messages."""
    try:
        return Thread.model_validate(
            {
                "id": row["id"],
                "title": row["title"],
                "attributes": _from_json(row["attributes"], "attributes"),
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "messages": messages,
            }
        )
    except (ValueError, ValidationError, KeyError, TypeError) as exc:
        raise StorageError(f"corrupt thread row {row['id']!r}: {exc}") from exc


class ThreadList(list[Thread]):
    """Threads returned by a listing; `skipped` holds a StorageError per thread left out.

    One corrupt row (in any thread) must not hide every other thread from `list_threads()` or
    `find_by_attributes()`: the thread it belongs to is skipped, reported here and logged.
    """

    skipped: list[StorageError]

    def __init__(self, threads: Any = (), skipped: list[StorageError] | None = None) -> None:
        super().__init__(threads)
        self.skipped = list(skipped or [])


def decode_many(rows: list[tuple[Any, Any]]) -> ThreadList:
    """Threads from (thread row, message rows) pairs, skipping (and logging) corrupt ones."""
    out = ThreadList()
    for row, message_rows in rows:
        try:
            out.append(decode_thread(row, [decode_message(m, row["id"]) for m in message_rows]))
        except StorageError as exc:
            out.skipped.append(exc)
            _log.warning("skipped a thread that cannot be read: %s", exc)
    return out


_log = logging.getLogger("tyler.storage")
