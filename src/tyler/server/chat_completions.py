"""OpenAI Chat Completions: `POST /v1/chat/completions`, streaming (SSE) and not.

Wire format as in serving.md §1: one id and `created` per response, `[DONE]` at the end,
`stream_options.include_usage` adds a usage chunk with `choices: []`, thinking goes out as
`delta.reasoning_content`, a failure mid-stream as `data: {"error": ...}` (the SDKs raise
`APIError`). Tools the server runs never appear as `tool_calls` (clients would try to run them);
with `tool_activity` on they are shown as reasoning text. Tools the client declares in `tools`
are passed to the model; their calls end the response with `finish_reason: "tool_calls"` and
the client continues with `role: "tool"` messages.

Conversations: without a thread id each request is a new thread built from its `messages`. With
one (`thread_id` in the body, or the `X-Thread-Id` header) the stored thread is continued with
the request's messages after its last assistant message; an unknown id starts that thread.
The thread id is returned in the `X-Thread-Id` response header.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from ..events import EventType, ExecutionEvent
from ..exceptions import RequestError
from ..messages import Message, Thread
from ._http import dumps
from .convert import client_tools, model_and_stream, parse_chat_messages, text_of_result
from .runs import thread_id_param

if TYPE_CHECKING:
    from ..tools import Tool

_E = EventType
_ACTIVITY_PREVIEW = 300  # characters of a tool result shown as reasoning text


@dataclass(slots=True)
class ChatRequest:
    """A validated Chat Completions request."""

    model: str
    messages: list[Message]
    stream: bool
    include_usage: bool
    tools: list[Tool]
    thread_id: str | None


def parse_request(body: dict[str, Any], header_thread_id: str | None) -> ChatRequest:
    model, stream = model_and_stream(body)
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object", param="stream_options", code="invalid_type")
    thread_id = body.get("thread_id", header_thread_id)
    if thread_id is not None:
        thread_id = thread_id_param(thread_id, "thread_id")
    return ChatRequest(
        model=model,
        messages=parse_chat_messages(body.get("messages")),
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        tools=client_tools(body.get("tools")),
        thread_id=thread_id,
    )


def new_messages_for(thread: Thread, messages: list[Message]) -> list[Message]:
    """A client resends the whole conversation; a stored thread needs only what came after the
    client's last assistant message (the new user message, or the tool results)."""
    if not thread.messages:
        return messages
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return messages[last + 1:]


class ChatCompletionsEncoder:
    """Events → `chat.completion.chunk` SSE frames (and the pieces of a non-streamed reply)."""

    def __init__(self, model: str, *, include_usage: bool, client_tool_names: frozenset[str],
                 tool_activity: bool, stream: bool = True, reasoning_alias: bool = False) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.client_tool_names = client_tool_names
        self.tool_activity = tool_activity
        self.stream = stream
        self.reasoning_alias = reasoning_alias  # thinking also as `reasoning` (OpenRouter's name)
        head = dumps({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model})
        self._head = "data: " + head[:-1] + ',"choices":[{"index":0,"delta":'
        self._tail = ',"logprobs":null,"finish_reason":null}]' + (',"usage":null' if include_usage else "") + "}\n\n"
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.finish_reason = "stop"
        self.usage: dict[str, int] = {}
        self.error: dict[str, Any] | None = None
        self._calls: dict[tuple[str, int], int] = {}  # (message id, model's index) → our index
        self._text_message: str | None = None

    # -- frames ------------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any]) -> str:
        return self._head + dumps(delta) + self._tail if self.stream else ""

    def _ending(self) -> str:
        if not self.stream:
            return ""
        base = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
        last = {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish_reason}]}
        if self.include_usage:
            last["usage"] = None
        out = "data: " + dumps(last) + "\n\n"
        if self.include_usage:
            out += "data: " + dumps({**base, "choices": [], "usage": self.usage_body()}) + "\n\n"
        return out + "data: [DONE]\n\n"

    def usage_body(self) -> dict[str, int]:
        prompt = self.usage.get("prompt_tokens", 0)
        completion = self.usage.get("completion_tokens", 0)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": self.usage.get("total_tokens", prompt + completion)}

    def start(self) -> str:
        return self._delta({"role": "assistant", "content": ""})

    def cancelled(self) -> str:
        self.finish_reason = "stop"
        return self._ending()

    def event(self, event: ExecutionEvent) -> str:
        t = event.type
        data = event.data
        if t is _E.LLM_STREAM_CHUNK:
            return self._content(data["content_chunk"], data.get("message_id"))
        if t is _E.LLM_THINKING_CHUNK:
            self.reasoning.append(data["thinking_chunk"])
            return self._thinking(data["thinking_chunk"])
        if t is _E.LLM_TOOL_CALL_CHUNK:
            return self._tool_delta(data)
        if t is _E.LLM_RESPONSE:
            self._finish_from(data)
            return ""
        if t in (_E.TOOL_SELECTED, _E.TOOL_RESULT, _E.TOOL_ERROR):
            return self._activity(t, data) if self.tool_activity else ""
        if t is _E.MESSAGE_CREATED:
            message = data["message"]
            if message.attributes.get("iteration_limit"):
                return self._content(str(message.content), message.id)
            return ""
        if t is _E.EXECUTION_COMPLETE:
            self.usage = dict(data.get("usage") or {})
            return self._ending()
        if t is _E.EXECUTION_ERROR:
            self.error = {"message": data.get("message") or "the run failed", "type": "server_error",
                          "param": None, "code": data.get("error_type")}
            return "data: " + dumps({"error": self.error}) + "\n\ndata: [DONE]\n\n" if self.stream else ""
        return ""

    def _content(self, text: str, message_id: str | None) -> str:
        if message_id != self._text_message:
            if self._text_message is not None and self.text:
                text = "\n\n" + text  # a new model turn after tools: keep the turns apart
            self._text_message = message_id
        self.text.append(text)
        # The hot path: the frame is a template around the JSON string (what dumps({"content": text}) gives).
        return self._head + '{"content":' + encode_basestring(text) + "}" + self._tail if self.stream else ""

    def _tool_delta(self, data: dict[str, Any]) -> str:
        name = data.get("tool_name")
        if name not in self.client_tool_names:
            return ""
        key = (data.get("message_id") or "", data["index"])
        args = data.get("arguments_delta") or ""
        index = self._calls.get(key)
        if index is None:
            index = self._calls[key] = len(self._calls)
            piece = {"index": index, "id": data.get("tool_call_id"), "type": "function",
                     "function": {"name": name, "arguments": args}}
        else:
            piece = {"index": index, "function": {"arguments": args}}
        return self._delta({"tool_calls": [piece]})

    def _finish_from(self, data: dict[str, Any]) -> None:
        calls = [c for c in data.get("tool_calls") or [] if c["function"]["name"] in self.client_tool_names]
        if calls:
            self.tool_calls = calls
            self.finish_reason = "tool_calls"
        elif data.get("finish_reason") in ("length", "content_filter"):
            self.finish_reason = data["finish_reason"]
        else:
            self.finish_reason = "stop"

    def _activity(self, t: EventType, data: dict[str, Any]) -> str:
        name = data.get("tool_name")
        if t is _E.TOOL_SELECTED:
            args = data.get("arguments")
            line = f"[tool] {name}({args if isinstance(args, str) else dumps(args)})\n"
        elif t is _E.TOOL_RESULT:
            line = f"[tool] {name} → {text_of_result(data.get('result'), _ACTIVITY_PREVIEW)}\n"
        else:
            line = f"[tool] {name} failed: {data.get('error')}\n"
        self.reasoning.append(line)
        return self._thinking(line)

    def _thinking(self, text: str) -> str:
        if self.reasoning_alias:
            return self._delta({"reasoning_content": text, "reasoning": text})
        return self._delta({"reasoning_content": text})

    # -- non-streaming -----------------------------------------------------------------------

    def completion(self) -> dict[str, Any]:
        """The `chat.completion` object of a non-streamed request."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
            if self.reasoning_alias:
                message["reasoning"] = message["reasoning_content"]
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": self.usage_body(),
        }
