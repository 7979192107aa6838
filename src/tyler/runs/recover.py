"""Rebuilding the partial reply of a run whose worker died, from the run's log.

A worker that is killed (kill -9, out of memory, the host gone) cannot save what it was streaming:
the agent saves a message when it is complete, so the thread store has every finished message of
the run but not the reply that was in progress. The run log has every delta of it, though. The
worker that ends the lost run (`RunLog.reap`, which exactly one caller wins) rebuilds that reply
from the log and appends it to the stored thread, marked `interrupted` like the reply of a
cancelled run, so what the user saw is not lost.

Only the text, thinking and streamed tool-call arguments of replies that no MESSAGE_CREATED event
reports (and that the stored thread does not hold already) are rebuilt; the tool calls of a partial
reply are kept aside in `attributes["partial_tool_calls"]` (incomplete calls would break the next
model request), as `Agent` does for a cancelled run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events import EventType
from ..messages import Message
from ._base import LogEntry

_CHUNKS = frozenset({
    EventType.LLM_STREAM_CHUNK.value, EventType.LLM_THINKING_CHUNK.value, EventType.LLM_TOOL_CALL_CHUNK.value,
})


@dataclass(slots=True)
class _Reply:
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    last: datetime | None = None  # when its last delta was streamed: the rebuilt message's time

    def add(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == EventType.LLM_STREAM_CHUNK.value:
            self.text.append(str(data.get("content_chunk") or ""))
        elif type_ == EventType.LLM_THINKING_CHUNK.value:
            self.thinking.append(str(data.get("thinking_chunk") or ""))
        else:
            call = self.calls.setdefault(int(data.get("index") or 0), {"id": None, "name": None, "args": []})
            call["id"] = call["id"] or data.get("tool_call_id")
            call["name"] = call["name"] or data.get("tool_name")
            call["args"].append(str(data.get("arguments_delta") or ""))

    def message(self, message_id: str, error_type: str, error_message: str, truncated: bool) -> Message:
        attributes: dict[str, Any] = {"error": True, "error_type": error_type, "error_message": error_message,
                                      "rebuilt_from_run_log": True}
        if self.calls:
            attributes["partial_tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"] or "", "arguments": "".join(c["args"])}}
                for _, c in sorted(self.calls.items())
            ]
        if truncated:  # the log's cap dropped the reply's first deltas: what is kept is its end
            attributes["truncated"] = True
        message = Message(id=message_id, role="assistant", content="".join(self.text),
                          reasoning_content="".join(self.thinking) or None, attributes=attributes, interrupted=True)
        if self.last is not None:
            message.timestamp = self.last
        return message


def partial_replies(
    entries: Iterable[LogEntry], saved_ids: set[str], *, error_type: str, error_message: str
) -> list[Message]:
    """The replies the log streamed that were never saved, in the order they began.

    `saved_ids`: ids of the messages the stored thread already holds. `error_type` and
    `error_message` say why the reply stopped (they go into its attributes, as for a failed run).
    """
    replies: dict[str, _Reply] = {}
    done = set(saved_ids)
    truncated = False
    for index, entry in enumerate(entries):
        if index == 0 and entry.seq != 1:
            truncated = True
        if entry.type == EventType.MESSAGE_CREATED.value:
            message = entry.event().data.get("message")
            if isinstance(message, Message):
                done.add(message.id)
            continue
        if entry.type not in _CHUNKS:
            continue
        event = entry.event()
        message_id = event.data.get("message_id")
        if isinstance(message_id, str) and message_id:
            reply = replies.setdefault(message_id, _Reply())
            reply.add(entry.type, event.data)
            reply.last = event.timestamp
    return [
        reply.message(message_id, error_type, error_message, truncated)
        for message_id, reply in replies.items() if message_id not in done
    ]


__all__ = ["partial_replies"]
