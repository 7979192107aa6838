"""OpenAI Responses API: `POST /v1/responses`, streaming (SSE with `event:` lines) and not.

Order as openai-python's `responses.stream()` demands (serving.md §2): `response.created` first,
every item added before its deltas and done before `response.completed`, one response id;
`response.completed` carries every output item and the usage. Thinking is a `reasoning` item with
a summary; tools the server runs are `mcp_call` items (reported, never executed by clients);
function tools the client declares come back as `function_call` items.

Conversations: the response id encodes the thread id, so `previous_response_id` continues the
thread on any worker without a lookup table; `conversation` (an id) names a thread directly.
Without either, the request's `input` is the whole conversation and starts a new thread.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events import EventType, ExecutionEvent
from ..exceptions import RequestError
from ..messages import Message, ToolCall
from ._http import dumps
from .convert import client_tool, model_and_stream
from .runs import thread_id_param

if TYPE_CHECKING:
    from ..tools import Tool

_E = EventType
_TEXT_PARTS = ("input_text", "output_text", "text")
_SKIPPED_ITEMS = ("reasoning", "mcp_call", "mcp_list_tools", "mcp_approval_request", "item_reference")


def response_id(thread_id: str) -> str:
    encoded = base64.urlsafe_b64encode(thread_id.encode()).decode().rstrip("=")
    return f"resp_{encoded}_{uuid.uuid4().hex[:12]}"


def thread_of(previous_response_id: str) -> str:
    """The thread id a response id encodes; RequestError 404 for an id we did not make."""
    body = previous_response_id.removeprefix("resp_").rpartition("_")[0]
    try:
        if previous_response_id.startswith("resp_") and body:
            thread_id = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            return thread_id_param(thread_id, "previous_response_id", status=404)
    except (binascii.Error, ValueError, RequestError):
        pass
    raise RequestError(f"previous response {previous_response_id!r} not found", status=404,
                       code="previous_response_not_found", param="previous_response_id")


@dataclass(slots=True)
class ResponsesRequest:
    model: str
    messages: list[Message]
    stream: bool
    tools: list[Tool]
    thread_id: str | None
    continues: bool  # True: `messages` are new items for a stored thread (previous_response_id)


def _text(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or a list of parts", param=f"{where}.content",
                           code="invalid_type")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise RequestError(f"{where}.content[{i}] must be an object", param=f"{where}.content")
        kind = part.get("type")
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        elif kind != "refusal":
            raise RequestError(f"{where}.content[{i}]: unsupported content part {kind!r}", param=f"{where}.content")
    return parts


def _item(raw: Any, where: str, out: list[Message]) -> None:
    if isinstance(raw, dict) and raw.get("type") in _SKIPPED_ITEMS:
        return  # server-side records: the thread keeps its own
    if not isinstance(raw, dict):
        raise RequestError(f"{where} must be an object", param=where, code="invalid_type")
    kind = raw.get("type", "message")
    if kind == "message":
        role = {"developer": "system"}.get(raw.get("role"), raw.get("role"))  # type: ignore[arg-type]
        if role not in ("user", "assistant", "system"):
            raise RequestError(f"{where}.role must be user, assistant, system or developer", param=f"{where}.role")
        content = _text(raw.get("content"), where)
        if role == "user" and not content:
            raise RequestError(f"{where}: a user message needs content", param=f"{where}.content")
        out.append(Message(role=role, content=content))  # type: ignore[arg-type]
    elif kind == "function_call":
        call_id, name, args = raw.get("call_id"), raw.get("name"), raw.get("arguments", "")
        if not (isinstance(call_id, str) and isinstance(name, str) and isinstance(args, str)):
            raise RequestError(f"{where}: a function_call needs string call_id, name and arguments", param=where)
        call: ToolCall = {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
        last = out[-1] if out else None
        if last is not None and last.role == "assistant" and (last.tool_calls or not last.content):
            last.tool_calls = [*(last.tool_calls or []), call]
        else:
            out.append(Message(role="assistant", content=None, tool_calls=[call]))
    elif kind == "function_call_output":
        call_id, output = raw.get("call_id"), raw.get("output")
        if not isinstance(call_id, str):
            raise RequestError(f"{where}.call_id must be a string", param=f"{where}.call_id")
        text = output if isinstance(output, str) else Message(role="tool", content=_text(output, where)).text
        out.append(Message(role="tool", content=text, tool_call_id=call_id))
    else:
        raise RequestError(f"{where}: unsupported input item type {kind!r}", param=f"{where}.type")


def parse_input(value: Any) -> list[Message]:
    if isinstance(value, str):
        if not value.strip():
            raise RequestError("'input' is empty", param="input")
        return [Message(role="user", content=value)]
    if not isinstance(value, list) or not value:
        raise RequestError("'input' must be a string or a non-empty list of items", param="input", code="invalid_type")
    out: list[Message] = []
    for i, raw in enumerate(value):
        _item(raw, f"input[{i}]", out)
    if not out or out[-1].role not in ("user", "tool"):
        raise RequestError("the input must end with a user message or a function_call_output", param="input")
    return out


def _tools(value: Any) -> list[Tool]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestError("'tools' must be a list", param="tools", code="invalid_type")
    out = []
    for i, spec in enumerate(value):
        if not isinstance(spec, dict) or spec.get("type") != "function":
            kind = spec.get("type") if isinstance(spec, dict) else spec
            raise RequestError(f"tools[{i}]: only function tools can be declared (got {kind!r}); the server's own "
                               "tools are always available", param="tools")
        out.append(client_tool(spec.get("name"), spec.get("description"), spec.get("parameters"), f"tools[{i}]"))
    return out


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    model, stream = model_and_stream(body)
    messages = parse_input(body.get("input"))
    instructions = body.get("instructions")
    previous = body.get("previous_response_id")
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if previous is not None and not isinstance(previous, str):
        raise RequestError("'previous_response_id' must be a string", param="previous_response_id")
    if conversation is not None:
        conversation = thread_id_param(conversation, "conversation")
    if previous is not None and conversation is not None:
        raise RequestError("pass previous_response_id or conversation, not both", param="conversation")
    thread_id = thread_of(previous) if previous else conversation
    if isinstance(instructions, str) and instructions and previous is None:
        messages.insert(0, Message(role="system", content=instructions))
    return ResponsesRequest(model, messages, stream, _tools(body.get("tools")), thread_id, previous is not None)


class ResponsesEncoder:
    """Events → Responses API stream events (and the final `response` object)."""

    def __init__(self, model: str, thread_id: str, *, client_tool_names: frozenset[str], stream: bool = True):
        self.stream = stream
        self.client_tool_names = client_tool_names
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self.response: dict[str, Any] = {
            "id": response_id(thread_id), "object": "response", "created_at": int(time.time()),
            "status": "in_progress", "model": model, "output": [], "usage": None, "error": None,
            "incomplete_details": None, "instructions": None, "tools": [], "tool_choice": "auto",
            "parallel_tool_calls": True, "metadata": {}, "text": {"format": {"type": "text"}},
            "conversation": {"id": thread_id},
        }
        self._open: tuple[int, dict[str, Any]] | None = None  # the text or reasoning item being streamed
        self._calls: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}  # client function calls of a turn
        self._tools: dict[str, tuple[int, dict[str, Any]]] = {}  # server tool calls by tool_call_id

    def _emit(self, kind: str, payload: dict[str, Any]) -> str:
        payload["type"] = kind
        payload["sequence_number"] = self.seq
        self.seq += 1
        return f"event: {kind}\ndata: {dumps(payload)}\n\n" if self.stream else ""

    def _add(self, item: dict[str, Any]) -> tuple[int, str]:
        index = len(self.output)
        self.output.append(item)
        return index, self._emit("response.output_item.added", {"output_index": index, "item": item})

    def _snapshot(self, status: str) -> dict[str, Any]:
        self.response["status"] = status
        self.response["output"] = self.output
        return self.response

    def start(self) -> str:
        created = self._emit("response.created", {"response": self._snapshot("in_progress")})
        return created + self._emit("response.in_progress", {"response": self.response})

    def event(self, event: ExecutionEvent) -> str:
        t = event.type
        data = event.data
        if t is _E.LLM_STREAM_CHUNK:
            return self._text(data["content_chunk"])
        if t is _E.LLM_THINKING_CHUNK:
            return self._reasoning(data["thinking_chunk"])
        if t is _E.LLM_TOOL_CALL_CHUNK:
            return self._call_delta(data) if data.get("tool_name") in self.client_tool_names else ""
        if t is _E.LLM_RESPONSE:
            return self._close_open() + self._close_calls(data.get("tool_calls") or [])
        if t is _E.TOOL_SELECTED:
            return self._tool_started(data)
        if t in (_E.TOOL_RESULT, _E.TOOL_ERROR):
            return self._tool_done(data, t is _E.TOOL_RESULT)
        if t is _E.MESSAGE_CREATED and data["message"].attributes.get("iteration_limit"):
            return self._text(str(data["message"].content)) + self._close_open()
        if t is _E.EXECUTION_COMPLETE:
            return self._finish(data.get("usage") or {})
        if t is _E.EXECUTION_ERROR:
            out = self._close_open()
            self.response["error"] = {"code": "server_error", "message": data.get("message") or "the run failed"}
            return out + self._emit("response.failed", {"response": self._snapshot("failed")})
        return ""

    def cancelled(self) -> str:
        out = self._close_open()
        self.response["incomplete_details"] = {"reason": "cancelled"}
        return out + self._emit("response.incomplete", {"response": self._snapshot("incomplete")})

    # -- items -------------------------------------------------------------------------------

    def _text(self, delta: str) -> str:
        out = ""
        if self._open is None or self._open[1]["type"] != "message":
            out = self._close_open()
            item: dict[str, Any] = {"type": "message", "id": f"msg_{uuid.uuid4().hex}", "status": "in_progress",
                                    "role": "assistant", "content": []}
            index, added = self._add(item)
            self._open = (index, item)
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            out += added + self._emit("response.content_part.added", {
                "item_id": item["id"], "output_index": index, "content_index": 0, "part": part})
            item["content"].append(part)
        index, item = self._open
        item["content"][0]["text"] += delta
        return out + self._emit("response.output_text.delta", {
            "item_id": item["id"], "output_index": index, "content_index": 0, "delta": delta, "logprobs": []})

    def _reasoning(self, delta: str) -> str:
        out = ""
        if self._open is None or self._open[1]["type"] != "reasoning":
            out = self._close_open()
            item: dict[str, Any] = {"type": "reasoning", "id": f"rs_{uuid.uuid4().hex}", "summary": []}
            index, added = self._add(item)
            self._open = (index, item)
            item["summary"].append({"type": "summary_text", "text": ""})
            out += added + self._emit("response.reasoning_summary_part.added", {
                "item_id": item["id"], "output_index": index, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}})
        index, item = self._open
        item["summary"][0]["text"] += delta
        return out + self._emit("response.reasoning_summary_text.delta", {
            "item_id": item["id"], "output_index": index, "summary_index": 0, "delta": delta})

    def _close_open(self) -> str:
        if self._open is None:
            return ""
        index, item = self._open
        self._open = None
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            part = item["content"][0]
            item["status"] = "completed"
            out = self._emit("response.output_text.done", {**ids, "content_index": 0, "text": part["text"],
                                                            "logprobs": []})
            out += self._emit("response.content_part.done", {**ids, "content_index": 0, "part": part})
        else:
            part = item["summary"][0]
            out = self._emit("response.reasoning_summary_text.done", {**ids, "summary_index": 0,
                                                                       "text": part["text"]})
            out += self._emit("response.reasoning_summary_part.done", {**ids, "summary_index": 0, "part": part})
        return out + self._emit("response.output_item.done", {"output_index": index, "item": item})

    def _call_delta(self, data: dict[str, Any]) -> str:
        key = (data.get("message_id") or "", data["index"])
        out = ""
        if key not in self._calls:
            out = self._close_open()
            item = {"type": "function_call", "id": f"fc_{uuid.uuid4().hex}", "call_id": data.get("tool_call_id"),
                    "name": data["tool_name"], "arguments": "", "status": "in_progress"}
            index, added = self._add(item)
            self._calls[key] = (index, item)
            out += added
        index, item = self._calls[key]
        delta = data.get("arguments_delta") or ""
        if not delta:
            return out
        item["arguments"] += delta
        return out + self._emit("response.function_call_arguments.delta", {
            "item_id": item["id"], "output_index": index, "delta": delta})

    def _close_calls(self, final_calls: list[dict[str, Any]]) -> str:
        finals = [c for c in final_calls if c["function"]["name"] in self.client_tool_names]
        out = ""
        for (index, item), final in zip(list(self._calls.values()), finals, strict=False):
            item.update(call_id=final["id"], arguments=final["function"]["arguments"], status="completed")
            out += self._emit("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": index, "name": item["name"], "arguments": item["arguments"]})
            out += self._emit("response.output_item.done", {"output_index": index, "item": item})
        self._calls.clear()
        return out

    def _tool_started(self, data: dict[str, Any]) -> str:
        out = self._close_open()
        args = data.get("arguments")
        item: dict[str, Any] = {"type": "mcp_call", "id": f"mcp_{uuid.uuid4().hex}", "server_label": "tyler",
                "name": data.get("tool_name"), "arguments": args if isinstance(args, str) else dumps(args),
                "output": None, "error": None, "status": "in_progress"}
        index, added = self._add(item)
        self._tools[data.get("tool_call_id") or item["id"]] = (index, item)
        return out + added

    def _tool_done(self, data: dict[str, Any], ok: bool) -> str:
        found = self._tools.pop(data.get("tool_call_id") or "", None)
        if found is None:
            return ""
        index, item = found
        if ok:
            item.update(output=data.get("result"), status="completed")
        else:
            item.update(error=data.get("error"), status="failed")
        return self._emit("response.output_item.done", {"output_index": index, "item": item})

    def _finish(self, usage: dict[str, int]) -> str:
        out = self._close_open() + self._close_calls([])
        prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        self.response["usage"] = {
            "input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": usage.get("reasoning_tokens", 0)},
            "total_tokens": usage.get("total_tokens", prompt + completion),
        }
        return out + self._emit("response.completed", {"response": self._snapshot("completed")})
