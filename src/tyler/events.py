"""Execution events: the typed values an event stream yields.

`ExecutionEvent` is a slotted dataclass rather than a pydantic model because one is built per
streamed chunk; construction must cost well under a microsecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import Message, Thread


class EventType(StrEnum):
    """What an `ExecutionEvent` reports. Values are stable strings (JSON-friendly)."""

    ITERATION_START = "iteration_start"
    # What was sent was shortened to fit the context window (tyler.context):
    # {strategy, omitted_messages, summarized_messages, truncated_messages, estimated_tokens, budget}
    CONTEXT_TRIMMED = "context_trimmed"
    LLM_REQUEST = "llm_request"
    LLM_STREAM_CHUNK = "llm_stream_chunk"
    LLM_THINKING_CHUNK = "llm_thinking_chunk"
    # Streamed tool-call argument deltas: {tool_call_id, index, tool_name, arguments_delta, message_id}
    LLM_TOOL_CALL_CHUNK = "llm_tool_call_chunk"
    LLM_RESPONSE = "llm_response"
    TOOL_SELECTED = "tool_selected"
    TOOL_EXECUTING = "tool_executing"
    TOOL_PROGRESS = "tool_progress"
    TOOL_RESULT = "tool_result"
    TOOL_ERROR = "tool_error"
    MESSAGE_CREATED = "message_created"
    ITERATION_LIMIT = "iteration_limit"
    EXECUTION_ERROR = "execution_error"
    EXECUTION_COMPLETE = "execution_complete"

    @property
    def is_terminal(self) -> bool:
        return self in (EventType.EXECUTION_COMPLETE, EventType.EXECUTION_ERROR)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ExecutionEvent:
    """One thing that happened during a run.

    `data` keys per type are documented in the README ("Events"); every run's stream ends with
    exactly one EXECUTION_COMPLETE or EXECUTION_ERROR.
    """

    type: EventType
    timestamp: datetime = field(default_factory=_now)
    data: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (messages dumped with pydantic, datetimes as ISO strings)."""
        return {
            "type": self.type.value,
            "timestamp": self.timestamp.isoformat(),
            "data": {k: _jsonable(v) for k, v in self.data.items()},
            "attributes": self.attributes,
        }


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):  # EXECUTION_ERROR's "exception"
        return f"{type(value).__name__}: {value}"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(slots=True)
class AgentResult:
    """What `await agent.go(thread)` returns."""

    thread: Thread
    new_messages: list[Message]
    content: str | None
    usage: dict[str, int] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def output(self) -> str | None:
        """Alias of `content` (newer Tyler naming)."""
        return self.content

    @property
    def messages(self) -> list[Message]:
        return self.new_messages


__all__ = ["AgentResult", "EventType", "ExecutionEvent"]
