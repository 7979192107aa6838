"""The real wire formats: a `Turn` turned into OpenAI or Anthropic bytes.

Streams are built up front as a list of complete, encoded SSE events, so that sending one is a
single transport write: the benchmarks push tens of thousands of events per second through this
fixture. The per-piece events use pre-encoded JSON prefixes/suffixes and only `json.dumps` the
piece itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .turns import ANTHROPIC_TO_OPENAI_STOP, OPENAI_TO_ANTHROPIC_STOP, Turn

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "timeout"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    529: ("server_error", "overloaded"),
}

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Invalid API key.",
    403: "Permission denied.",
    404: "Not found.",
    429: "Rate limit reached, please retry later.",
    500: "The server had an error while processing your request.",
    503: "The service is temporarily unavailable.",
    529: "Overloaded.",
}


def default_error_message(status: int) -> str:
    return _DEFAULT_MESSAGES.get(status, f"Fake model error {status}.")


def openai_error_body(status: int, message: str | None = None, error_type: str | None = None) -> bytes:
    """`{"error": {"message", "type", "param", "code"}}`, OpenAI's error shape."""
    default_type, code = OPENAI_ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    error = {
        "message": message or default_error_message(status),
        "type": error_type or default_type,
        "param": None,
        "code": code,
    }
    return _dumps({"error": error}).encode()


def anthropic_error_obj(
    status: int | None, message: str | None = None, error_type: str | None = None
) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}`, Anthropic's error shape."""
    etype = error_type or ANTHROPIC_ERROR_TYPES.get(status or 500, "api_error")
    return {
        "type": "error",
        "error": {"type": etype, "message": message or default_error_message(status or 500)},
    }


def anthropic_error_body(status: int, message: str | None = None, error_type: str | None = None) -> bytes:
    return _dumps(anthropic_error_obj(status, message, error_type)).encode()


def count_words(text: str) -> int:
    return len(text.split())


def _strings(value: Any) -> list[str]:
    """Every string found in a JSON value (message contents are strings or lists of parts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key not in ("type", "role", "id") for s in _strings(item)]
    return []


def prompt_tokens(body: dict[str, Any]) -> int:
    """A deterministic stand-in for prompt tokens: words in the messages and system prompt."""
    return sum(count_words(s) for s in _strings([body.get("messages"), body.get("system")]))


def compute_usage(turn: Turn, prompt: int) -> dict[str, int]:
    """Token counts for a turn (words as tokens), with `turn.usage` overrides in either vocabulary."""
    reasoning = count_words(turn.full_thinking())
    tools = sum(count_words(tc.arguments_json()) + 1 for tc in turn.tool_calls)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": count_words(turn.full_text()) + reasoning + tools,
        "reasoning_tokens": reasoning,
        "cached_tokens": 0,
    }
    aliases = {
        "input_tokens": "prompt_tokens",
        "output_tokens": "completion_tokens",
        "cache_read_input_tokens": "cached_tokens",
    }
    explicit_total = None
    for key, value in (turn.usage or {}).items():
        if key == "total_tokens":
            explicit_total = int(value)
        else:
            usage[aliases.get(key, key)] = int(value)
    usage["total_tokens"] = (
        explicit_total if explicit_total is not None else (usage["prompt_tokens"] + usage["completion_tokens"])
    )
    return usage


def openai_finish_reason(turn: Turn) -> str:
    if turn.finish_reason:
        return ANTHROPIC_TO_OPENAI_STOP.get(turn.finish_reason, turn.finish_reason)
    return "tool_calls" if turn.tool_calls else "stop"


def anthropic_stop_reason(turn: Turn) -> str:
    if turn.finish_reason:
        return OPENAI_TO_ANTHROPIC_STOP.get(turn.finish_reason, turn.finish_reason)
    return "tool_use" if turn.tool_calls else "end_turn"


def thinking_signature(thinking: str) -> str:
    return "fakesig_" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def _openai_usage(usage: dict[str, int]) -> dict[str, Any]:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
        "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": usage["reasoning_tokens"]},
    }


@dataclass(slots=True)
class StreamPlan:
    """A whole SSE response, event by event, plus the API-specific special events."""

    events: list[bytes]
    content_end: int  # index of the first closing event: where an in-stream error goes by default
    keepalive: bytes
    malformed: bytes
    api: str

    def error_event(self, error_type: str, message: str | None) -> bytes:
        if self.api == "anthropic":
            obj = anthropic_error_obj(None, message or "Overloaded", error_type)
            return b"event: error\ndata: " + _dumps(obj).encode() + b"\n\n"
        err = {
            "message": message or "The server had an error while processing your request.",
            "type": error_type,
            "param": None,
            "code": None,
        }
        return b"data: " + _dumps({"error": err}).encode() + b"\n\n"


def openai_stream(
    turn: Turn,
    *,
    model: str,
    completion_id: str,
    created: int,
    include_usage: bool,
    usage: dict[str, int],
    tool_ids: list[str],
) -> StreamPlan:
    """The events of a Chat Completions stream: role, reasoning, content, tool calls, finish, [DONE]."""
    head = (
        'data: {"id":'
        + _dumps(completion_id)
        + ',"object":"chat.completion.chunk","created":'
        + str(created)
        + ',"model":'
        + _dumps(model)
        + ',"system_fingerprint":"fp_fake","choices":[{"index":0,"delta":'
    ).encode()
    usage_null = ',"usage":null' if include_usage else ""
    tail = (',"finish_reason":null,"logprobs":null}]' + usage_null + "}\n\n").encode()

    events = [head + b'{"role":"assistant","content":""}' + tail]
    field_prefix = '{"' + turn.reasoning_field + '":'
    events.extend(head + (field_prefix + _dumps(p) + "}").encode() + tail for p in turn.thinking_pieces())
    events.extend(head + ('{"content":' + _dumps(p) + "}").encode() + tail for p in turn.text_pieces())
    for index, (call, call_id) in enumerate(zip(turn.tool_calls, tool_ids, strict=True)):
        first = {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ]
        }
        events.append(head + _dumps(first).encode() + tail)
        prefix = '{"tool_calls":[{"index":' + str(index) + ',"function":{"arguments":'
        events.extend(head + (prefix + _dumps(p) + "}}]}").encode() + tail for p in call.argument_pieces())
    content_end = len(events)
    finish = _dumps(openai_finish_reason(turn))
    events.append(head + b"{}" + (',"finish_reason":' + finish + ',"logprobs":null}]' + usage_null + "}\n\n").encode())
    if include_usage:
        final = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": _openai_usage(usage),
        }
        events.append(b"data: " + _dumps(final).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return StreamPlan(events, content_end, b": keepalive\n\n", b"data: {this is not json\n\n", "openai")


def openai_completion(
    turn: Turn, *, model: str, completion_id: str, created: int, usage: dict[str, int], tool_ids: list[str]
) -> bytes:
    """A non-streamed `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.full_text() or None, "refusal": None}
    if turn.thinking is not None or turn.thinking_chunks is not None:
        message[turn.reasoning_field] = turn.full_thinking()
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for call, call_id in zip(turn.tool_calls, tool_ids, strict=True)
        ]
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "finish_reason": openai_finish_reason(turn), "logprobs": None}],
        "usage": _openai_usage(usage),
    }
    return _dumps(body).encode()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return ("event: " + event + "\ndata: " + _dumps(data) + "\n\n").encode()


def _tool_input(call_json: str) -> Any:
    try:
        return json.loads(call_json) if call_json else {}
    except ValueError:
        return call_json  # deliberately invalid arguments stay as the raw string


def _anthropic_usage(usage: dict[str, int], output: int) -> dict[str, int]:
    return {
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage["cached_tokens"],
    }


def anthropic_stream(
    turn: Turn, *, model: str, message_id: str, usage: dict[str, int], tool_ids: list[str]
) -> StreamPlan:
    """The events of a Messages stream: message_start, ping, blocks (thinking, text, tool_use), end."""
    start = {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _anthropic_usage(usage, 1),
        },
    }
    events = [_sse("message_start", start), _sse("ping", {"type": "ping"})]
    index = 0
    if turn.thinking is not None or turn.thinking_chunks is not None:
        events.append(
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            )
        )
        prefix = (
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(index)
            + ',"delta":{"type":"thinking_delta","thinking":'
        )
        events.extend((prefix + _dumps(p) + "}}\n\n").encode() for p in turn.thinking_pieces())
        signature = turn.signature or thinking_signature(turn.full_thinking())
        events.append(
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": signature},
                },
            )
        )
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    pieces = turn.text_pieces()
    if pieces:
        events.append(
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        prefix = (
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(index)
            + ',"delta":{"type":"text_delta","text":'
        )
        events.extend((prefix + _dumps(p) + "}}\n\n").encode() for p in pieces)
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for call, call_id in zip(turn.tool_calls, tool_ids, strict=True):
        events.append(
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": call_id, "name": call.name, "input": {}},
                },
            )
        )
        prefix = (
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(index)
            + ',"delta":{"type":"input_json_delta","partial_json":'
        )
        events.extend((prefix + _dumps(p) + "}}\n\n").encode() for p in ["", *call.argument_pieces()])
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    content_end = len(events)
    events.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": anthropic_stop_reason(turn), "stop_sequence": None},
                "usage": {"output_tokens": usage["completion_tokens"]},
            },
        )
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return StreamPlan(
        events,
        content_end,
        _sse("ping", {"type": "ping"}),
        b"event: content_block_delta\ndata: {this is not json\n\n",
        "anthropic",
    )


def anthropic_message(turn: Turn, *, model: str, message_id: str, usage: dict[str, int], tool_ids: list[str]) -> bytes:
    """A non-streamed Messages API `message` object."""
    content: list[dict[str, Any]] = []
    if turn.thinking is not None or turn.thinking_chunks is not None:
        thinking = turn.full_thinking()
        content.append(
            {
                "type": "thinking",
                "thinking": thinking,
                "signature": turn.signature or thinking_signature(thinking),
            }
        )
    if turn.full_text():
        content.append({"type": "text", "text": turn.full_text()})
    for call, call_id in zip(turn.tool_calls, tool_ids, strict=True):
        content.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": call.name,
                "input": _tool_input(call.arguments_json()),
            }
        )
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": anthropic_stop_reason(turn),
        "stop_sequence": None,
        "usage": _anthropic_usage(usage, usage["completion_tokens"]),
    }
    return _dumps(body).encode()
