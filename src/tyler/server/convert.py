"""Client input → library values: chat messages, client-declared tools, per-request agents.

Every check raises `RequestError` with the offending field, so each protocol can answer a 400 in
its own shape and nothing reaches the store before the whole request is known to be good.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from ..exceptions import RequestError
from ..messages import Message
from ..tools import Tool

if TYPE_CHECKING:
    from ..agent import Agent

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_MESSAGES = 10_000


def _bad(message: str, param: str, code: str = "invalid_value") -> RequestError:
    return RequestError(message, param=param, code=code)


def model_and_stream(body: dict[str, Any]) -> tuple[str, bool]:
    """The OpenAI APIs' `model` (required) and `stream` (a boolean, default false)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("'model' is required: one of the ids GET /v1/models lists", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean", param="stream", code="invalid_type")
    return model, stream


def _content(value: Any, where: str) -> str | list[dict[str, Any]] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        for i, part in enumerate(value):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise _bad(f"{where}.content[{i}] must be an object with a 'type'", f"{where}.content")
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise _bad(f"{where}.content[{i}].text must be a string", f"{where}.content")
        return value
    raise _bad(f"{where}.content must be a string, a list of content parts or null", f"{where}.content",
               "invalid_type")


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad(f"{where}.tool_calls must be a list", f"{where}.tool_calls", "invalid_type")
    calls = []
    for i, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if not (isinstance(fn, dict) and isinstance(call.get("id"), str) and isinstance(fn.get("name"), str)):
            raise _bad(f"{where}.tool_calls[{i}] needs 'id' and 'function.name'", f"{where}.tool_calls")
        args = fn.get("arguments", "")
        calls.append({"id": call["id"], "type": "function",
                      "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else ""}})
    return calls or None


def chat_message(raw: Any, where: str) -> Message:
    """One OpenAI chat message dict → Message."""
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be an object", where, "invalid_type")
    role = _ROLES.get(raw.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise _bad(f"{where}.role must be one of {', '.join(_ROLES)}, got {raw.get('role')!r}", f"{where}.role")
    content = _content(raw.get("content"), where)
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    if role == "tool":
        call_id = raw.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.tool_call_id is required for a tool message", f"{where}.tool_call_id")
        text = content if isinstance(content, str) else Message(role="tool", content=content).text
        return Message(role="tool", content=text, tool_call_id=call_id, name=name)
    calls = _tool_calls(raw.get("tool_calls"), where) if role == "assistant" else None
    if role == "user" and not content:
        raise _bad(f"{where}: a user message needs content", f"{where}.content")
    return Message(role=role, content=content, name=name, tool_calls=calls)  # type: ignore[arg-type]


def parse_chat_messages(value: Any) -> list[Message]:
    if not isinstance(value, list):
        raise _bad("'messages' must be a list of messages", "messages", "invalid_type")
    if not value:
        raise _bad("'messages' is empty: send at least one user message", "messages", "empty_messages")
    if len(value) > MAX_MESSAGES:
        raise _bad(f"'messages' has more than {MAX_MESSAGES} messages", "messages")
    messages = [chat_message(m, f"messages[{i}]") for i, m in enumerate(value)]
    if messages[-1].role not in ("user", "tool"):
        raise _bad("the last message must be from the user (or a tool result)", "messages")
    return messages


async def _client_only(**_: Any) -> str:  # never called: the run ends when a client tool is called
    raise RuntimeError("client tools are run by the client")


def client_tool(name: Any, description: Any, parameters: Any, where: str) -> Tool:
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise _bad(f"{where}: tool name {name!r} must match {_TOOL_NAME.pattern}", where)
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise _bad(f"{where}: 'parameters' must be a JSON schema object", where, "invalid_type")
    return Tool(name, description if isinstance(description, str) else "", parameters, _client_only, client=True)


def client_tools(value: Any) -> list[Tool]:
    """Chat Completions `tools` (`[{"type": "function", "function": {...}}]`) → client Tools."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("'tools' must be a list", "tools", "invalid_type")
    out = []
    for i, spec in enumerate(value):
        fn = spec.get("function") if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or spec.get("type", "function") != "function":
            raise _bad(f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}", "tools")
        out.append(client_tool(fn.get("name"), fn.get("description"), fn.get("parameters"), f"tools[{i}]"))
    return out


def with_client_tools(agent: Agent, tools: list[Tool]) -> Agent:
    """A per-request view of `agent` that also offers the client's tools to the model.

    The shared agent is not touched (other requests run on it concurrently); the copy shares its
    provider, settings and store.
    """
    if not tools:
        return agent
    names = [t.name for t in tools]
    clash = sorted(set(names) & set(agent._tools))
    if clash:
        raise _bad(f"tools {clash} clash with tools the server runs itself", "tools")
    if len(set(names)) != len(names):
        raise _bad("two client tools have the same name", "tools")
    view = copy.copy(agent)
    view._tools = {**agent._tools, **{t.name: t for t in tools}}
    view._tool_specs = [t.spec for t in view._tools.values()]
    return view


def client_tool_specs(agent: Agent) -> list[dict[str, Any]]:
    """The client tools of a `with_client_tools` view, as JSON (to rebuild it on another worker)."""
    return [{"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in agent._tools.values() if t.client]


def text_of_result(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
