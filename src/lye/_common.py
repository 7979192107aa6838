"""Small helpers shared by the lye tool modules: tool-dict building and env settings."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from tyler.exceptions import ConfigurationError
from tyler.tools import ToolDict, tool_from_callable

ToolImpl = Callable[..., Awaitable[Any]]

_TRUE = {"1", "true", "yes", "on"}

ALLOW_PRIVATE_ENV = "LYE_ALLOW_PRIVATE_NETWORK"
ALLOWED_HOSTS_ENV = "LYE_ALLOWED_HOSTS"


def make_tool(
    name: str,
    description: str,
    parameters: dict[str, Any],
    implementation: ToolImpl,
    *,
    timeout: float | None = None,
    context_param: str | None = None,
) -> ToolDict:
    """Build a Tyler-style tool dict (the format `Agent(tools=[...])` accepts)."""
    tool: ToolDict = {
        "definition": {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": parameters},
        },
        "implementation": implementation,
    }
    if timeout is not None:
        tool["timeout"] = timeout
    if context_param is not None:
        tool["context_param"] = context_param
    return tool


def derived_tool(
    name: str, implementation: ToolImpl, *, timeout: float | None = None, context_param: str | None = None
) -> ToolDict:
    """A tool dict whose description and argument schema come from `implementation`'s docstring
    and signature (`tool_from_callable`: type hints, `Annotated[..., Field(...)]` constraints,
    defaults), offered the way models read them best (see `_offered`). Arguments stay checked
    against that JSON schema, as for any dict tool."""
    derived = tool_from_callable(implementation, name=name)
    description = " ".join(derived.description.split())  # one paragraph, however the docstring wraps
    return make_tool(name, description, _offered(derived.parameters), implementation, timeout=timeout,
                     context_param=context_param)


def _offered(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional argument whose default is None is offered as its type with no default (leave
    it out to mean "none"), not as "X or null": a model then never sends an explicit null. The
    list of required arguments is always present (some clients expect the key)."""
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf")
        if prop.get("default", ...) is None and branches and len(branches) == 2 and {"type": "null"} in branches:
            rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            properties[name] = {**next(b for b in branches if b != {"type": "null"}), **rest}
        else:
            properties[name] = prop
    return {**schema, "properties": properties, "required": schema.get("required", [])}


def env_flag(name: str) -> bool:
    """True when the environment variable is set to 1/true/yes/on (read at call time)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment; a malformed value is a ConfigurationError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    """A float setting from the environment; a malformed value is a ConfigurationError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None


def human_size(size: int) -> str:
    """`1536` -> `1.5 KB`: sizes as models and people read them."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - loop always returns
