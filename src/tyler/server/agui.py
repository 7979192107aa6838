"""AG-UI (`@ag-ui/client` 1.0): `RunAgentInput` in, AG-UI events out (serving.md §4).

The order is the one `verifyEvents` accepts: a text message, a reasoning message and a tool call
are never open at the same time, everything is closed before RUN_FINISHED, and a failure is one
RUN_ERROR with no RUN_FINISHED. Tools in `RunAgentInput.tools` are the client's (frontend) tools:
when the model calls one the run ends (RUN_FINISHED outcome success with `pendingToolCallIds`)
and the client runs it, then starts the next run with the result as a `tool` message.
The AG-UI thread id is the thread id.

Every run opens with RUN_STARTED, then MESSAGES_SNAPSHOT: the stored conversation (with the new
input), so a client that joins an existing thread (a new HttpAgent with its threadId) gets the
history. Ids are those the stream uses: the assistant message's id, `rs_<id>` for its reasoning,
`tool_<toolCallId>` for a tool result, and the server's own for user messages (the client keeps the
order of the messages it already holds, so its copy of the new input must be replaced, not kept, for
the history to come before it). Then, when the thread has one, STATE_SNAPSHOT: the last non-empty
`state` a client sent for the thread, kept in `thread.attributes["ag_ui.state"]` (an empty state,
what a new client sends, does not erase it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events import EventType, ExecutionEvent
from ..exceptions import RequestError
from ..messages import Message, Thread
from .convert import client_tool
from .runs import thread_id_param
from .vercel import _dumps

if TYPE_CHECKING:
    from ..tools import Tool

_E = EventType
STATE_KEY = "ag_ui.state"
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system", "tool": "tool"}


@dataclass(slots=True)
class RunInput:
    thread_id: str
    run_id: str
    messages: list[Message]
    tools: list[Tool]
    model: str | None
    state: Any = None


def _message(raw: Any, where: str) -> Message | None:
    if not isinstance(raw, dict):
        raise RequestError(f"{where} must be an object", param=where, code="invalid_type")
    role = raw.get("role")
    if role in ("activity", "reasoning"):
        return None  # UI-only records
    if role not in _ROLES:
        raise RequestError(f"{where}.role {role!r} is not an AG-UI message role", param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, list):
        content = Message(role="user", content=[p for p in content if isinstance(p, dict)]).text
    if content is not None and not isinstance(content, str):
        raise RequestError(f"{where}.content must be a string or content parts", param=f"{where}.content")
    if role == "tool":
        call_id = raw.get("toolCallId")
        if not isinstance(call_id, str) or not call_id:
            raise RequestError(f"{where}.toolCallId is required for a tool message", param=f"{where}.toolCallId")
        text = content if raw.get("error") is None else f"Error: {raw['error']}"
        return Message(role="tool", content=text or "", tool_call_id=call_id)
    calls = None
    if role == "assistant" and raw.get("toolCalls"):
        calls = []
        for call in raw["toolCalls"]:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
                raise RequestError(f"{where}.toolCalls needs id and function", param=f"{where}.toolCalls")
            calls.append({"id": call["id"], "type": "function",
                          "function": {"name": str(fn.get("name")), "arguments": str(fn.get("arguments") or "")}})
    if role == "user" and not content:
        raise RequestError(f"{where}: a user message needs content", param=f"{where}.content")
    return Message(role=_ROLES[role], content=content, tool_calls=calls)  # type: ignore[arg-type]


def parse_input(body: dict[str, Any]) -> RunInput:
    """`RunAgentInput` (camelCase) → what the run needs."""
    thread_id, run_id = body.get("threadId"), body.get("runId")
    thread_id = thread_id_param(thread_id, "threadId")
    if not isinstance(run_id, str) or not run_id:
        raise RequestError("'runId' must be a non-empty string", param="runId")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise RequestError("'messages' must be a list", param="messages", code="invalid_type")
    messages = [m for i, raw in enumerate(raw_messages) if (m := _message(raw, f"messages[{i}]")) is not None]
    if not messages or messages[-1].role not in ("user", "tool"):
        raise RequestError("the messages must end with a user message or a tool result", param="messages")
    tools_raw = body.get("tools") or []
    if not isinstance(tools_raw, list):
        raise RequestError("'tools' must be a list", param="tools", code="invalid_type")
    tools = [client_tool(t.get("name"), t.get("description"), t.get("parameters"), f"tools[{i}]")
             if isinstance(t, dict) else client_tool(None, None, None, f"tools[{i}]") for i, t in enumerate(tools_raw)]
    props = body.get("forwardedProps")
    model = props.get("model") if isinstance(props, dict) and isinstance(props.get("model"), str) else None
    return RunInput(str(thread_id), str(run_id), messages, tools, model, body.get("state"))


def remember_state(thread: Thread, state: Any) -> Any:
    """Keep the client's `state` on the thread unless it is empty; returns the state STATE_SNAPSHOT
    sends (None: the thread has none)."""
    if state not in (None, {}, []):
        thread.attributes[STATE_KEY] = state
    return thread.attributes.get(STATE_KEY)


def snapshot_messages(thread: Thread) -> list[dict[str, Any]]:
    """The thread as AG-UI messages (the MESSAGES_SNAPSHOT payload)."""
    out: list[dict[str, Any]] = []
    for m in thread.messages:
        if m.role == "tool":
            out.append({"id": f"tool_{m.tool_call_id}", "role": "tool", "content": m.text,
                        "toolCallId": str(m.tool_call_id)})
        elif m.role == "assistant":
            if m.reasoning_content:
                out.append({"id": f"rs_{m.id}", "role": "reasoning", "content": m.reasoning_content})
            item: dict[str, Any] = {"id": m.id, "role": "assistant"}
            if m.text:
                item["content"] = m.text
            if m.tool_calls:
                item["toolCalls"] = [{"id": c["id"], "type": "function", "function": {
                    "name": c["function"]["name"], "arguments": c["function"].get("arguments") or ""}}
                    for c in m.tool_calls]
            out.append(item)
        elif m.role in ("user", "system"):
            out.append({"id": m.id, "role": m.role, "content": m.text})
    return out


def sse(event: dict[str, Any]) -> str:
    return f"data: {_dumps(event)}\n\n"


class AGUIEncoder:
    """Events → AG-UI events (SSE `data:` lines, no `[DONE]`)."""

    def __init__(self, thread_id: str, run_id: str, client_tool_names: frozenset[str], *,
                 snapshot: list[dict[str, Any]] | None = None, state: Any = None) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.snapshot = snapshot
        self.state = state
        self.client_tool_names = client_tool_names
        self._text: str | None = None  # open text message id
        self._reasoning: str | None = None  # open reasoning message id
        self._call: str | None = None  # open tool call id
        self._announced: set[str] = set()
        self._pending: list[str] = []  # client tool calls the client must run

    def _events(self, *events: dict[str, Any]) -> str:
        return "".join(sse(e) for e in events)

    def start(self) -> str:
        out: list[dict[str, Any]] = [{"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id}]
        if self.snapshot is not None:
            out.append({"type": "MESSAGES_SNAPSHOT", "messages": self.snapshot})
        if self.state is not None:
            out.append({"type": "STATE_SNAPSHOT", "snapshot": self.state})
        return self._events(*out)

    def _close(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._text is not None:
            out.append({"type": "TEXT_MESSAGE_END", "messageId": self._text})
            self._text = None
        if self._reasoning is not None:
            out += [{"type": "REASONING_MESSAGE_END", "messageId": self._reasoning},
                    {"type": "REASONING_END", "messageId": self._reasoning}]
            self._reasoning = None
        if self._call is not None:
            out.append({"type": "TOOL_CALL_END", "toolCallId": self._call})
            self._call = None
        return out

    def event(self, event: ExecutionEvent) -> str:  # noqa: C901  (one branch per event type)
        t = event.type
        data = event.data
        if t is _E.LLM_STREAM_CHUNK:
            mid = str(data.get("message_id"))
            out = [] if self._text == mid else [*self._close(), {"type": "TEXT_MESSAGE_START", "messageId": mid,
                                                                  "role": "assistant"}]
            self._text = mid
            return self._events(*out, {"type": "TEXT_MESSAGE_CONTENT", "messageId": mid,
                                       "delta": data["content_chunk"]})
        if t is _E.LLM_THINKING_CHUNK:
            rid = f"rs_{data.get('message_id')}"
            out = [] if self._reasoning == rid else [
                *self._close(), {"type": "REASONING_START", "messageId": rid},
                {"type": "REASONING_MESSAGE_START", "messageId": rid, "role": "reasoning"}]
            self._reasoning = rid
            return self._events(*out, {"type": "REASONING_MESSAGE_CONTENT", "messageId": rid,
                                       "delta": data["thinking_chunk"]})
        if t is _E.LLM_TOOL_CALL_CHUNK:
            return self._tool_chunk(data)
        if t is _E.LLM_RESPONSE:
            return self._events(*self._close(), *self._unannounced(data))
        if t is _E.TOOL_SELECTED:
            return self._events(*self._announce(data.get("tool_call_id"), data.get("tool_name"),
                                                data.get("arguments"), None))
        if t in (_E.TOOL_RESULT, _E.TOOL_ERROR):
            call_id = str(data.get("tool_call_id"))
            content = data.get("result") if t is _E.TOOL_RESULT else f"Error: {data.get('error')}"
            return self._events({"type": "TOOL_CALL_RESULT", "messageId": f"tool_{call_id}", "toolCallId": call_id,
                                 "content": str(content), "role": "tool"})
        if t is _E.EXECUTION_COMPLETE:
            return self._finished(data.get("usage") or {})
        if t is _E.EXECUTION_ERROR:
            return self._events(*self._close(), {"type": "RUN_ERROR", "message": str(data.get("message")),
                                                 "code": str(data.get("error_type") or "error")})
        return ""

    def cancelled(self) -> str:
        return self._events(*self._close(), {"type": "RUN_FINISHED", "threadId": self.thread_id,
                                             "runId": self.run_id, "outcome": {"type": "cancelled"}})

    def _tool_chunk(self, data: dict[str, Any]) -> str:
        call_id, name = data.get("tool_call_id"), data.get("tool_name")
        if not call_id or not name:
            return ""
        out: list[dict[str, Any]] = []
        if call_id not in self._announced:
            out = self._close()
            self._announced.add(call_id)
            self._call = call_id
            out.append({"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": name,
                        "parentMessageId": data.get("message_id")})
            if name in self.client_tool_names:
                self._pending.append(call_id)
        if data.get("arguments_delta") and self._call == call_id:
            out.append({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": data["arguments_delta"]})
        return self._events(*out)

    def _announce(self, call_id: Any, name: Any, args: Any, parent: Any) -> list[dict[str, Any]]:
        """A whole tool call whose arguments never streamed (start, args, end at once)."""
        if not call_id or call_id in self._announced:
            return []
        self._announced.add(call_id)
        if name in self.client_tool_names:
            self._pending.append(call_id)
        text = args if isinstance(args, str) else _dumps(args if args is not None else {})
        start = {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": name}
        if parent:
            start["parentMessageId"] = parent
        return [*self._close(), start, {"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": text},
                {"type": "TOOL_CALL_END", "toolCallId": call_id}]

    def _unannounced(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for call in data.get("tool_calls") or []:
            fn = call["function"]
            out += self._announce(call["id"], fn["name"], fn["arguments"], data.get("message_id"))
        return out

    def _finished(self, usage: dict[str, int]) -> str:
        outcome: dict[str, Any] = {"type": "success"}
        if self._pending:
            outcome["pendingToolCallIds"] = list(self._pending)
        finished: dict[str, Any] = {"type": "RUN_FINISHED", "threadId": self.thread_id, "runId": self.run_id,
                                    "outcome": outcome}
        if usage:
            finished["usage"] = [{"inputTokens": usage.get("prompt_tokens", 0),
                                  "outputTokens": usage.get("completion_tokens", 0),
                                  "totalTokens": usage.get("total_tokens", 0)}]
        return self._events(*self._close(), finished)
