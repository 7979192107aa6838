"""Vercel AI SDK UI message stream (ai v5/v6): events → parts (serving.md §3).

One encoder serves the library's `agent.stream(thread, mode="vercel")` (SSE strings) and
`mode="vercel_objects"` (part dicts) and the server's `POST /api/chat`. Unlike Tyler 6.4.0 it sends
`tool-input-delta`, marks the server's tools `providerExecuted` (so `onToolCall` does not fire on
the client) and `dynamic` (the client has no static type for them), reports tool progress as a
transient `data-tool-progress` part, usage in the finish part's `messageMetadata`, and a real
`finishReason`. Every delta follows its start and every tool output a known `toolCallId`, as ai@6
requires. No Starlette import here: the library modes must work without the `serve` extra.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from ..events import EventType, ExecutionEvent
from ..exceptions import RequestError
from ..messages import Message

_E = EventType
DONE = "data: [DONE]\n\n"
HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content-filter", "tool_calls": "tool-calls"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def sse(part: dict[str, Any]) -> str:
    return f"data: {_dumps(part)}\n\n"


def _parse_args(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return raw


def ui_messages(value: Any) -> list[Message]:
    """`UIMessage[]` from `DefaultChatTransport` → Messages (text parts; tool parts are the
    server's own record and stay in the thread)."""
    if not isinstance(value, list) or not value:
        raise RequestError("'messages' must be a non-empty list of UI messages", param="messages",
                           code="empty_messages" if value == [] else "invalid_type")
    out = []
    for i, raw in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant", "system"):
            raise RequestError(f"{where} must be a UI message with role user, assistant or system", param=where)
        parts = raw.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise RequestError(f"{where}.parts must be a list of parts", param=f"{where}.parts", code="invalid_type")
        text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
        if raw["role"] == "user" and not text.strip():
            raise RequestError(f"{where}: a user message needs a text part", param=f"{where}.parts")
        out.append(Message(role=raw["role"], content=text))  # tool-only assistant turns too: they mark turns
    if out[-1].role != "user":
        raise RequestError("the last message must be the user's (the one to answer)", param="messages")
    return out


TRIGGERS = ("submit-message", "regenerate-message")


@dataclass(slots=True)
class ChatRequest:
    """A `DefaultChatTransport` body: `{id, messages, trigger, messageId, ...body}`.

    `rewrite` says how the client changed the conversation: None (a new message), "regenerate"
    (`AbstractChat.regenerate()`: the reply to the last user message is replaced) or "edit"
    (`sendMessage({text, messageId})` of a user message: that message and what followed it are).
    """

    chat_id: str | None
    model: str | None
    messages: list[Message]
    rewrite: str | None

    @property
    def turn(self) -> int:
        """How many user messages the client's conversation has (its last one included)."""
        return sum(1 for m in self.messages if m.role == "user")


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """Validate a `POST /api/chat` body (RequestError in the AI SDK's shape otherwise)."""
    trigger = body.get("trigger", "submit-message")
    if trigger not in TRIGGERS:
        raise RequestError(f"trigger {trigger!r} is not supported; send one of {', '.join(TRIGGERS)}",
                           param="trigger")
    chat_id, model, message_id = body.get("id"), body.get("model"), body.get("messageId")
    if chat_id is not None and not isinstance(chat_id, str):  # the server checks it as a thread id
        raise RequestError("'id' must be a string", param="id", code="invalid_thread_id")
    if model is not None and not isinstance(model, str):
        raise RequestError("'model' must be a string", param="model", code="invalid_type")
    if message_id is not None and not isinstance(message_id, str):
        raise RequestError("'messageId' must be a string", param="messageId", code="invalid_type")
    raw = body.get("messages")
    messages = ui_messages(raw)
    rewrite = None
    if trigger == "regenerate-message":
        rewrite = "regenerate"
    elif message_id is not None and isinstance(raw, list) and raw[-1].get("id") == message_id:
        rewrite = "edit"  # the client cut its conversation after this user message and changed it
    return ChatRequest(chat_id, model, messages, rewrite)


class VercelParts:
    """Turns a run's events into UI message stream parts (dicts)."""

    def __init__(self, message_id: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.message_id = message_id or f"msg_{uuid.uuid4().hex}"
        self.metadata = metadata or {}
        self._open: tuple[str, str] | None = None  # ("text" | "reasoning", block id)
        self._step = False
        self._inputs: dict[str, str] = {}  # toolCallId → toolName, input started, not yet available
        self._known: set[str] = set()  # toolCallIds the client has seen
        self._finish = "stop"

    def start(self) -> list[dict[str, Any]]:
        part: dict[str, Any] = {"type": "start", "messageId": self.message_id}
        if self.metadata:
            part["messageMetadata"] = self.metadata
        return [part]

    def event(self, event: ExecutionEvent) -> list[dict[str, Any]]:
        t = event.type
        data = event.data
        if t is _E.LLM_STREAM_CHUNK:
            return self._delta("text", data["content_chunk"], data.get("message_id"))
        if t is _E.LLM_THINKING_CHUNK:
            return self._delta("reasoning", data["thinking_chunk"], data.get("message_id"))
        if t is _E.LLM_TOOL_CALL_CHUNK:
            return self._tool_input(data)
        if t is _E.LLM_REQUEST:
            out = self._end_step()
            self._step = True
            return [*out, {"type": "start-step"}]
        if t is _E.LLM_RESPONSE:
            return self._inputs_available(data)
        if t is _E.TOOL_SELECTED:
            return self._selected(data)
        if t is _E.TOOL_PROGRESS:
            return [{"type": "data-tool-progress", "id": data["tool_call_id"], "transient": True, "data": {
                "toolCallId": data["tool_call_id"], "toolName": data.get("tool_name"),
                "progress": data.get("progress"), "total": data.get("total"), "message": data.get("message")}}]
        if t is _E.TOOL_RESULT:
            return [{"type": "tool-output-available", "toolCallId": data["tool_call_id"], "output": data.get("result"),
                     "providerExecuted": True, "dynamic": True}]
        if t is _E.TOOL_ERROR:
            return [{"type": "tool-output-error", "toolCallId": data["tool_call_id"],
                     "errorText": str(data.get("error")), "providerExecuted": True, "dynamic": True}]
        if t is _E.MESSAGE_CREATED and data["message"].attributes.get("iteration_limit"):
            self._finish = "length"
            return self._delta("text", str(data["message"].content), data["message"].id) + self._close()
        if t is _E.EXECUTION_COMPLETE:
            return self._finished(self._finish, data.get("usage") or {}, data.get("thread_id"))
        if t is _E.EXECUTION_ERROR:
            out = [*self._close(), {"type": "error", "errorText": str(data.get("message") or "the run failed")}]
            return out + self._finished("error", {}, None)
        return []

    def cancelled(self) -> list[dict[str, Any]]:
        return [*self._close(), *self._end_step(), {"type": "abort"}]

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        kind, block = self._open
        self._open = None
        return [{"type": f"{kind}-end", "id": block}]

    def _end_step(self) -> list[dict[str, Any]]:
        out = self._close()
        if self._step:
            self._step = False
            out.append({"type": "finish-step"})
        return out

    def _delta(self, kind: str, delta: str, message_id: str | None) -> list[dict[str, Any]]:
        block = f"{kind}_{message_id}"
        if self._open == (kind, block):
            return [{"type": f"{kind}-delta", "id": block, "delta": delta}]
        out = self._close()
        self._open = (kind, block)
        out.append({"type": f"{kind}-start", "id": block})
        out.append({"type": f"{kind}-delta", "id": block, "delta": delta})
        return out

    def _tool_input(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        call_id, name = data.get("tool_call_id"), data.get("tool_name")
        if not call_id or not name:
            return []  # the provider sent no id/name yet; the call is announced when it does
        out: list[dict[str, Any]] = []
        if call_id not in self._inputs:
            out = self._close()
            self._inputs[call_id] = name
            self._known.add(call_id)
            out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": name,
                        "providerExecuted": True, "dynamic": True})
        if data.get("arguments_delta"):
            out.append({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": data["arguments_delta"]})
        return out

    def _inputs_available(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        for call in data.get("tool_calls") or []:
            call_id, name = call["id"], call["function"]["name"]
            if call_id not in self._inputs:  # no streamed deltas for this one (or its id came late)
                out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": name,
                            "providerExecuted": True, "dynamic": True})
            self._known.add(call_id)
            out.append({"type": "tool-input-available", "toolCallId": call_id, "toolName": name,
                        "input": _parse_args(call["function"]["arguments"]), "providerExecuted": True,
                        "dynamic": True})
        self._inputs.clear()
        if data.get("finish_reason") in ("length", "content_filter"):
            self._finish = _FINISH[data["finish_reason"]]
        return out

    def _selected(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        call_id = data.get("tool_call_id")
        if call_id is None or call_id in self._known:
            return []
        self._known.add(call_id)  # a call whose input never streamed: announce it before its output
        name = data.get("tool_name")
        return [{"type": "tool-input-start", "toolCallId": call_id, "toolName": name, "providerExecuted": True,
                 "dynamic": True},
                {"type": "tool-input-available", "toolCallId": call_id, "toolName": name,
                 "input": _parse_args(data.get("arguments")), "providerExecuted": True, "dynamic": True}]

    def _finished(self, reason: str, usage: dict[str, int], thread_id: str | None) -> list[dict[str, Any]]:
        out = self._end_step()
        metadata = dict(self.metadata)
        if usage:
            metadata["usage"] = {"inputTokens": usage.get("prompt_tokens", 0),
                                 "outputTokens": usage.get("completion_tokens", 0),
                                 "totalTokens": usage.get("total_tokens", 0)}
        if thread_id:
            metadata["threadId"] = thread_id
        finish: dict[str, Any] = {"type": "finish", "finishReason": reason}
        if metadata:
            finish["messageMetadata"] = metadata
        out.append(finish)
        return out


class VercelEncoder:
    """`VercelParts` as SSE frames: the `Encoder` of `POST /api/chat`."""

    def __init__(self, message_id: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.parts = VercelParts(message_id, metadata)

    def start(self) -> str:
        return "".join(map(sse, self.parts.start()))

    def event(self, event: ExecutionEvent) -> str:
        if event.type is _E.LLM_STREAM_CHUNK:  # the hot path: a text delta into the open block
            block = f"text_{event.data.get('message_id')}"
            if self.parts._open == ("text", block):
                return (f'data: {{"type":"text-delta","id":{encode_basestring(block)},'
                        f'"delta":{encode_basestring(event.data["content_chunk"])}}}\n\n')
        text = "".join(map(sse, self.parts.event(event)))
        return text + DONE if event.type.is_terminal else text

    def cancelled(self) -> str:
        return "".join(map(sse, self.parts.cancelled())) + DONE


async def vercel_stream(events: AsyncGenerator[ExecutionEvent, None], *, objects: bool) -> AsyncGenerator[Any, None]:
    """The library modes: `mode="vercel"` yields one SSE string per part (then `[DONE]`),
    `mode="vercel_objects"` the part dicts."""
    parts = VercelParts()
    async with aclosing(events) as stream:
        for part in parts.start():
            yield part if objects else sse(part)
        async for event in stream:
            for part in parts.event(event):
                yield part if objects else sse(part)
    if not objects:
        yield DONE
