"""Execution events: the typed values an event stream yields.

`ExecutionEvent` is a small slotted class rather than a pydantic model because one is built per
streamed chunk; construction must cost well under a microsecond. Its `data` is a plain dict at
run time; each event type's keys are declared by a `TypedDict` (`EVENT_DATA` maps type → payload),
which the run loop is type-checked against and which costs nothing when the event is built.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from .messages import Message, Thread, TokenUsage, ToolCall


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
    # A call waits for a human decision: {tool_name, tool_call_id, arguments}; then
    # APPROVAL_RESOLVED {tool_name, tool_call_id, approved, reason}
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_RESOLVED = "approval_resolved"
    MESSAGE_CREATED = "message_created"
    ITERATION_LIMIT = "iteration_limit"
    # An answer that failed response_type validation: {attempt, output, errors, will_retry}
    STRUCTURED_OUTPUT_INVALID = "structured_output_invalid"
    EXECUTION_ERROR = "execution_error"
    EXECUTION_COMPLETE = "execution_complete"

    @property
    def is_terminal(self) -> bool:
        return self in (EventType.EXECUTION_COMPLETE, EventType.EXECUTION_ERROR)


# -- payloads: one TypedDict per event type (README "Events" table; tests/test_events.py checks it) ----


class IterationStartData(TypedDict):
    iteration_number: int
    max_iterations: int


class LLMRequestData(TypedDict):
    message_count: int
    model: str
    iteration: int
    tool_count: int


class LLMStreamChunkData(TypedDict):
    content_chunk: str
    message_id: str


class LLMThinkingChunkData(TypedDict):
    thinking_chunk: str
    thinking_type: str  # "reasoning" / "thinking"
    message_id: str


class LLMToolCallChunkData(TypedDict):
    tool_call_id: str | None  # None until the provider has sent the call's id
    index: int
    tool_name: str | None
    arguments_delta: str
    message_id: str


class LLMResponseData(TypedDict):
    content: str | list[dict[str, Any]] | None
    tool_calls: list[ToolCall] | None
    reasoning_content: str | None
    tokens: TokenUsage  # {} when the provider reported no usage
    latency_ms: float
    finish_reason: str | None
    message_id: str


class MessageCreatedData(TypedDict):
    message: Message


class ToolSelectedData(TypedDict):
    tool_name: str
    arguments: dict[str, Any] | str | None  # the model's raw string when it could not be parsed
    tool_call_id: str


class ToolExecutingData(TypedDict):
    tool_name: str
    arguments: dict[str, Any]
    tool_call_id: str


class ToolProgressData(TypedDict):
    tool_name: str
    tool_call_id: str
    progress: float
    total: float | None
    message: str | None


class ToolResultData(TypedDict):
    tool_name: str
    result: str
    duration_ms: float
    tool_call_id: str


class ToolErrorData(TypedDict):
    tool_name: str
    error: str
    error_type: str
    duration_ms: float
    tool_call_id: str


class ApprovalRequestedData(TypedDict):
    tool_name: str
    tool_call_id: str
    arguments: dict[str, Any]


class ApprovalResolvedData(TypedDict):
    tool_name: str
    tool_call_id: str
    approved: bool
    reason: str | None


class IterationLimitData(TypedDict):
    iterations_used: int


class StructuredOutputInvalidData(TypedDict):
    attempt: int  # failed answers so far, this one included
    output: str | None  # the raw answer
    errors: list[dict[str, Any]]  # pydantic's errors (type, loc, msg, input)
    will_retry: bool  # False: EXECUTION_ERROR (StructuredOutputError) follows


class ContextTrimmedData(TypedDict):
    strategy: str  # "trim" or "summarize"
    omitted_messages: int
    summarized_messages: int
    truncated_messages: int
    estimated_tokens: int
    budget: int | None
    context_window: int | None


class ExecutionCompleteData(TypedDict):
    duration_ms: float
    total_tokens: int
    usage: TokenUsage  # the run's sums of prompt, completion and total tokens
    thread_id: str
    thread: Thread
    new_messages: list[Message]
    structured_data: Any  # the validated response_type instance (None without response_type)
    retry_history: list[dict[str, Any]]  # failed answer attempts: attempt, output, errors
    finish_reason: str | None  # of the last reply; "length": cut at the token limit


class ExecutionErrorData(TypedDict):
    error_type: str
    message: str
    exception: BaseException  # a TylerError; the original is its __cause__
    duration_ms: float


EventData = (
    IterationStartData | LLMRequestData | LLMStreamChunkData | LLMThinkingChunkData | LLMToolCallChunkData
    | LLMResponseData | MessageCreatedData | ToolSelectedData | ToolExecutingData | ToolProgressData
    | ToolResultData | ToolErrorData | IterationLimitData | ContextTrimmedData | ExecutionCompleteData
    | ExecutionErrorData | ApprovalRequestedData | ApprovalResolvedData | StructuredOutputInvalidData
)

EVENT_DATA: Mapping[EventType, type[Any]] = MappingProxyType({
    EventType.ITERATION_START: IterationStartData,
    EventType.LLM_REQUEST: LLMRequestData,
    EventType.LLM_STREAM_CHUNK: LLMStreamChunkData,
    EventType.LLM_THINKING_CHUNK: LLMThinkingChunkData,
    EventType.LLM_TOOL_CALL_CHUNK: LLMToolCallChunkData,
    EventType.LLM_RESPONSE: LLMResponseData,
    EventType.MESSAGE_CREATED: MessageCreatedData,
    EventType.TOOL_SELECTED: ToolSelectedData,
    EventType.TOOL_EXECUTING: ToolExecutingData,
    EventType.TOOL_PROGRESS: ToolProgressData,
    EventType.TOOL_RESULT: ToolResultData,
    EventType.TOOL_ERROR: ToolErrorData,
    EventType.APPROVAL_REQUESTED: ApprovalRequestedData,
    EventType.APPROVAL_RESOLVED: ApprovalResolvedData,
    EventType.ITERATION_LIMIT: IterationLimitData,
    EventType.STRUCTURED_OUTPUT_INVALID: StructuredOutputInvalidData,
    EventType.CONTEXT_TRIMMED: ContextTrimmedData,
    EventType.EXECUTION_COMPLETE: ExecutionCompleteData,
    EventType.EXECUTION_ERROR: ExecutionErrorData,
})
"""The payload `TypedDict` of each event type (what `event.data` holds for events the loop emits)."""


_clock = time.time


class ExecutionEvent:
    """One thing that happened during a run.

    `data` keys per type are declared by `EVENT_DATA[type]` (a `TypedDict`; the README's "Events"
    table lists them too); every run's stream ends with exactly one EXECUTION_COMPLETE or
    EXECUTION_ERROR. `data` stays typed as a plain dict so `event.data["content_chunk"]` reads
    as before; the run loop is checked against the TypedDicts where it builds events.

    Built like a dataclass: `ExecutionEvent(type, timestamp=None, data=None, attributes=None)`,
    compared by value. Without a `timestamp` the event is stamped with the current time; the
    clock is read as a float and becomes a `datetime` only when `timestamp` is first read, since
    most chunk events are never asked (`datetime.now` costs ~4x `time.time` per streamed chunk).
    """

    __slots__ = ("_at", "attributes", "data", "type")
    __match_args__ = ("type", "timestamp", "data", "attributes")

    def __init__(
        self,
        type: EventType,  # noqa: A002 -- the public field's name
        timestamp: datetime | None = None,
        data: dict[str, Any] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.type = type
        self._at: datetime | float = _clock() if timestamp is None else timestamp
        self.data: dict[str, Any] = {} if data is None else data
        self.attributes = attributes

    @property
    def timestamp(self) -> datetime:
        """When the event happened (timezone-aware, UTC unless given otherwise)."""
        at = self._at
        if isinstance(at, float):
            at = self._at = datetime.fromtimestamp(at, UTC)
        return at

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        self._at = value

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ExecutionEvent)
        return (self.type, self.timestamp, self.data, self.attributes) == (
            other.type, other.timestamp, other.data, other.attributes
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass would be)

    def __repr__(self) -> str:
        return (f"ExecutionEvent(type={self.type!r}, timestamp={self.timestamp!r}, data={self.data!r}, "
                f"attributes={self.attributes!r})")

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
    structured_data: Any = None  # the validated response_type instance, when one was asked for
    retry_history: list[dict[str, Any]] = field(default_factory=list)  # failed answer attempts

    @property
    def validation_retries(self) -> int:
        """How many answers failed validation before the valid one."""
        return len(self.retry_history)

    @property
    def output(self) -> str | None:
        """Alias of `content` (newer Tyler naming)."""
        return self.content

    @property
    def messages(self) -> list[Message]:
        return self.new_messages


__all__ = [
    "EVENT_DATA",
    "AgentResult",
    "ApprovalRequestedData",
    "ApprovalResolvedData",
    "ContextTrimmedData",
    "EventData",
    "EventType",
    "ExecutionCompleteData",
    "ExecutionErrorData",
    "ExecutionEvent",
    "IterationLimitData",
    "IterationStartData",
    "LLMRequestData",
    "LLMResponseData",
    "LLMStreamChunkData",
    "LLMThinkingChunkData",
    "LLMToolCallChunkData",
    "MessageCreatedData",
    "StructuredOutputInvalidData",
    "ToolErrorData",
    "ToolExecutingData",
    "ToolProgressData",
    "ToolResultData",
    "ToolSelectedData",
]
