"""Conversation values: `Message` and `Thread`.

Both are pydantic v2 models so they serialize to and from JSON losslessly
(`Thread.model_validate_json(thread.model_dump_json()) == thread`).
Tool calls are kept in the OpenAI wire shape
(`{"id", "type": "function", "function": {"name", "arguments": "<json str>"}}`) because every
provider can convert from it and it is what users already know.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, with_config

# typing_extensions' TypedDict: pydantic cannot build a schema from typing's on Python < 3.12.
from typing_extensions import TypedDict

from .attachments import Attachment

Role = Literal["system", "user", "assistant", "tool"]

# -- the shapes of Message's structured fields -------------------------------------------------------
# TypedDicts, so values stay plain dicts (`message.tool_calls[0]["function"]["name"]`, JSON as is)
# while every key has one declared meaning. `extra="allow"`: keys a provider or client adds survive
# a store round trip untouched.
_OPEN = ConfigDict(extra="allow")


@with_config(_OPEN)
class ToolCallFunction(TypedDict):
    """The called function: its name and the model's arguments as JSON text (not parsed)."""

    name: str
    arguments: str


@with_config(_OPEN)
class ToolCall(TypedDict):
    """One tool call of an assistant message, in the OpenAI wire shape."""

    id: str
    type: Literal["function"]
    function: ToolCallFunction


@with_config(_OPEN)
class ThinkingBlock(TypedDict):
    """A thinking block; Anthropic's are signed and sent back unchanged on the next turn (an
    unsigned one, from another provider, is never sent)."""

    type: Literal["thinking"]
    thinking: str
    signature: str | None


@with_config(_OPEN)
class RedactedThinkingBlock(TypedDict):
    """Anthropic's redacted thinking: opaque data, sent back unchanged."""

    type: Literal["redacted_thinking"]
    data: str


SignedThinking = ThinkingBlock | RedactedThinkingBlock
"""An item of `Message.thinking_blocks`."""


@with_config(_OPEN)
class TokenUsage(TypedDict, total=False):
    """Tokens one model response used (each count as the provider reports it; the run loop
    always sets the first three, `reasoning_tokens` when the provider gives it)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int


@with_config(_OPEN)
class Timing(TypedDict):
    """Durations in milliseconds: `latency` of the whole response or tool call, and for a model
    response the time to its first streamed token."""

    latency: float
    time_to_first_token: NotRequired[float]


@with_config(_OPEN)
class MessageMetrics(TypedDict, total=False):
    """`Message.metrics`: the model that answered, timing and token usage (each when known)."""

    model: str
    timing: Timing
    usage: TokenUsage


_UNSTORABLE_ID = re.compile("[\x00\ud800-\udfff]")


def check_id(value: str, what: str = "id") -> str:
    """`value` if it can be an id; ValueError for NUL or a lone surrogate.

    No database of ours can hold those characters, so stored text replaces them with U+FFFD; in
    an id that would make two different ids one (and one message silently overwrite another),
    or a thread that can never be saved. They are refused where the id is given instead.
    """
    if isinstance(value, str) and _UNSTORABLE_ID.search(value):
        raise ValueError(f"{what} {value!r} contains NUL or a lone surrogate, which cannot be stored; use another id")
    return value


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """One message of a conversation.

    `reasoning_content` holds the model's whole reasoning ("thinking") for an assistant message;
    `thinking_blocks` keeps Anthropic's signed thinking blocks so they can be sent back on the next
    turn (required for tool use with extended thinking). `interrupted` marks a partial assistant
    message whose generation was cancelled. `attachments` are files sent with the message
    (`add_attachment`); a `ThreadStore` keeps their bytes in its `FileStore`.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=False)

    id: str = Field(default_factory=_new_id)
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[SignedThinking] | None = None
    timestamp: datetime = Field(default_factory=_now)
    metrics: MessageMetrics = Field(default_factory=MessageMetrics)
    attributes: dict[str, Any] = Field(default_factory=dict)
    interrupted: bool = False
    attachments: list[Attachment] = Field(default_factory=list)

    def add_attachment(
        self, source: bytes | str | os.PathLike[str] | Attachment, *, filename: str | None = None,
        mime_type: str | None = None,
    ) -> Attachment:
        """Attach a file (bytes with `filename=`, or a path); the mime type is detected from the
        content. Raises `AttachmentError` if the file cannot be read."""
        attachment = source if isinstance(source, Attachment) else Attachment.from_source(
            source, filename=filename, mime_type=mime_type
        )
        self.attachments.append(attachment)
        return attachment

    @field_validator("id")
    @classmethod
    def _storable_id(cls, value: str) -> str:
        return check_id(value, "message id")

    @property
    def text(self) -> str:
        """The content as plain text (text parts joined for multi-part content)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def to_chat_dict(self) -> dict[str, Any]:
        """The message as an OpenAI Chat Completions message dict."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name and self.role in ("user", "tool"):
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


class Thread(BaseModel):
    """A conversation: an ordered list of messages plus metadata."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=_new_id)
    title: str | None = None
    messages: list[Message] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)

    # Bookkeeping owned by the ThreadStore that loaded/saved this thread (which message ids it has
    # already written), so a save writes only what is new. Not part of the serialized value.
    _store_state: Any = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _storable_id(cls, value: str) -> str:
        return check_id(value, "thread id")

    def add_message(self, message: Message) -> Message:
        """Append `message` (in place) and return it."""
        if not isinstance(message, Message):
            raise TypeError(f"add_message expects a Message, got {type(message).__name__}")
        self.messages.append(message)
        self.updated_at = _now()
        return message

    def get_last_message_by_role(self, role: Role) -> Message | None:
        for message in reversed(self.messages):
            if message.role == role:
                return message
        return None

    def get_message(self, message_id: str) -> Message | None:
        for message in self.messages:
            if message.id == message_id:
                return message
        return None

    def get_messages_for_chat_completion(self) -> list[dict[str, Any]]:
        """The thread as OpenAI Chat Completions messages."""
        return [m.to_chat_dict() for m in self.messages]

    def get_total_tokens(self) -> int:
        return sum(int(usage.get("total_tokens", 0) or 0) for m in self.messages if (usage := m.metrics.get("usage")))


__all__ = [
    "Message", "MessageMetrics", "RedactedThinkingBlock", "Role", "SignedThinking", "ThinkingBlock", "Thread",
    "Timing", "TokenUsage", "ToolCall", "ToolCallFunction", "check_id",
]
