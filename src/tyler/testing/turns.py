"""What the fake model answers (`Turn`, `FakeToolCall`) and what it saw (`RecordedRequest`).

These are plain dataclasses so a test reads like a script::

    server.enqueue(
        Turn(thinking="Let me check.", tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
        Turn(text="It is sunny in Paris."),
    )

Both convert to and from JSON-able dicts so the standalone server can be scripted over HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigurationError

# A word and the whitespace around it: joining the pieces gives back the text exactly.
_WORD_PIECES = re.compile(r"\s*\S+\s*")

# Finish reasons in both vocabularies, so a Turn can use whichever the test author thinks in.
OPENAI_TO_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
ANTHROPIC_TO_OPENAI_STOP = {v: k for k, v in OPENAI_TO_ANTHROPIC_STOP.items()}
ANTHROPIC_TO_OPENAI_STOP["stop_sequence"] = "stop"
ANTHROPIC_TO_OPENAI_STOP["pause_turn"] = "stop"


def split_words(text: str) -> list[str]:
    """Split `text` into word pieces that keep their spaces ("a b" -> ["a ", "b"])."""
    if not text:
        return []
    return _WORD_PIECES.findall(text) or [text]


def split_fixed(text: str, size: int) -> list[str]:
    """Split `text` into pieces of at most `size` characters (tool-call argument streaming)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class FakeToolCall:
    """A tool call the fake model makes.

    `arguments` is a dict (sent as its JSON) or a string sent as-is, which lets a test send
    invalid JSON arguments. `chunks` overrides how the argument string is split on the wire.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    chunks: list[str] | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))

    def argument_pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        # About three pieces, like a real model streaming a short JSON object token by token.
        raw = self.arguments_json()
        return split_fixed(raw, max(1, -(-len(raw) // 3))) if raw else []

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | FakeToolCall) -> FakeToolCall:
        if isinstance(data, FakeToolCall):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ConfigurationError(f"a fake tool call needs at least a string 'name', got {data!r}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigurationError(f"unknown FakeToolCall field(s): {sorted(unknown)}")
        return cls(**data)


@dataclass
class Turn:
    """One scripted model reply.

    Content: `text` (streamed word by word unless `chunks` is given), `thinking` (reasoning,
    streamed as `reasoning_content`/`reasoning` for OpenAI or a thinking block with a signature for
    Anthropic), `tool_calls`. `usage` overrides the computed token counts (keys in either API's
    vocabulary); `finish_reason` overrides the stop reason ("stop"/"tool_calls"/"length" or
    "end_turn"/"tool_use"/"max_tokens").

    Failure modes, counted in SSE events sent (every event counts, including the opening
    role/message_start and the closing ones):

    - `status`: answer this HTTP error instead of a stream (`retry_after`, `error_message`,
      `error_type` shape the response);
    - `abort_after=N`: close the TCP connection after N events, mid-body;
    - `malformed_at=N`: after N good events send one event whose data is not JSON, then go on;
    - `stall_after=N`: after N events stop sending but keep the connection open, for
      `stall_seconds` (None: until the client leaves), sending a keepalive every
      `keepalive_interval` seconds if set (Anthropic `ping` event, or an SSE comment for OpenAI);
    - `error_event`: an in-stream error of this type (e.g. "overloaded_error") sent after
      `error_event_at` events (default: after the content, instead of the normal ending).

    Timing: `first_byte_delay` before the response starts, `delay` between events.
    `record_send_times`: note the wall-clock time each event was written (`RecordedRequest.sent_at`),
    for benchmarks that measure a client's delay from the server's write.
    """

    text: str = ""
    chunks: list[str] | None = None
    thinking: str | None = None
    thinking_chunks: list[str] | None = None
    signature: str | None = None
    reasoning_field: str = "reasoning_content"
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    delay: float = 0.0
    first_byte_delay: float = 0.0
    status: int | None = None
    retry_after: float | str | None = None
    error_message: str | None = None
    error_type: str | None = None
    abort_after: int | None = None
    malformed_at: int | None = None
    stall_after: int | None = None
    stall_seconds: float | None = None
    keepalive_interval: float | None = None
    error_event: str | None = None
    error_event_at: int | None = None
    headers: dict[str, str] | None = None
    record_send_times: bool = False

    def __post_init__(self) -> None:
        self.tool_calls = [FakeToolCall.from_dict(tc) for tc in self.tool_calls]
        if self.reasoning_field not in ("reasoning_content", "reasoning"):
            raise ConfigurationError(
                f"reasoning_field must be 'reasoning_content' or 'reasoning', got {self.reasoning_field!r}"
            )
        if self.status is not None and not 400 <= self.status <= 599:
            raise ConfigurationError(f"Turn.status must be an HTTP error status (400-599), got {self.status}")
        for name in ("abort_after", "malformed_at", "stall_after", "error_event_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigurationError(f"Turn.{name} must be a non-negative int, got {value!r}")
        for name in ("delay", "first_byte_delay"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"Turn.{name} must be >= 0")
        if self.keepalive_interval is not None and self.keepalive_interval <= 0:
            raise ConfigurationError("Turn.keepalive_interval must be > 0")

    def text_pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else split_words(self.text)

    def full_text(self) -> str:
        return "".join(self.chunks) if self.chunks is not None else self.text

    def thinking_pieces(self) -> list[str]:
        if self.thinking_chunks is not None:
            return list(self.thinking_chunks)
        return split_words(self.thinking or "")

    def full_thinking(self) -> str:
        if self.thinking_chunks is not None:
            return "".join(self.thinking_chunks)
        return self.thinking or ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | Turn) -> Turn:
        """Build a Turn from its dict form (as sent to POST /_fake/enqueue)."""
        if isinstance(data, Turn):
            return data
        if not isinstance(data, dict):
            raise ConfigurationError(f"a turn must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigurationError(f"unknown Turn field(s): {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a wrongly typed field that dataclass init cannot take
            raise ConfigurationError(f"invalid turn {data!r}: {exc}") from exc


def _decode_data_url(url: str) -> tuple[str, bytes] | None:
    if not url.startswith("data:") or ";base64," not in url:
        return None
    media, data = url[5:].split(";base64,", 1)
    try:
        return media, base64.b64decode(data, validate=True)
    except ValueError:
        return None


def _file_part(part: dict[str, Any]) -> dict[str, Any] | None:
    """An OpenAI image_url/file part or an Anthropic image/document block, decoded."""
    kind = part.get("type")
    decoded: tuple[str, bytes] | None = None
    if kind == "image_url":
        decoded = _decode_data_url(str((part.get("image_url") or {}).get("url", "")))
    elif kind == "file":
        decoded = _decode_data_url(str((part.get("file") or {}).get("file_data", "")))
    elif kind in ("image", "document"):
        source = part.get("source") or {}
        if source.get("type") == "base64":
            try:
                decoded = str(source.get("media_type")), base64.b64decode(source.get("data", ""), validate=True)
            except ValueError:
                decoded = None
    if decoded is None:
        return None
    return {"kind": "image" if kind in ("image_url", "image") else "document",
            "media_type": decoded[0], "data": decoded[1]}


@dataclass
class RecordedRequest:
    """One model API request the fake server received, updated while its response streams.

    `disconnected_early` is True when the client closed the connection before the server had
    sent the whole response; `completed` is True when the full response was sent. A response the
    server wrote in full (e.g. an unpaced one) counts as completed even if the client stopped
    reading it: use `Turn.delay` or `stall_after` to test that a client closes its stream.
    `error` says why a response ended otherwise (scripted error status, abort, responder failure).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    api: str
    started: float
    finished: float | None = None
    first_byte_at: float | None = None  # time.time() when the response's first byte was written
    status: int | None = None
    stream: bool = False
    chunks_sent: int = 0
    completed: bool = False
    disconnected_early: bool = False
    error: str | None = None
    sent_at: list[float] | None = None  # time.time() of each event written (Turn.record_send_times)

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[Any]:
        """The request's `messages` list (empty if absent)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return self.body["messages"]
        return []

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def files(self) -> list[dict[str, Any]]:
        """Images and documents the request carried, in either API's shape, decoded:
        `[{"kind": "image"|"document", "media_type": ..., "data": bytes, "role": ...}]`."""
        out = []
        for message in self.messages:
            content = message.get("content") if isinstance(message, dict) else None
            for part in content if isinstance(content, list) else []:
                found = _file_part(part) if isinstance(part, dict) else None
                if found is not None:
                    out.append({**found, "role": message.get("role")})
        return out

    @property
    def images(self) -> list[dict[str, Any]]:
        """The image parts of `files`."""
        return [f for f in self.files if f["kind"] == "image"]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordedRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
