"""Tools from MCP servers (stdio and streamable HTTP), through the official `mcp` Python SDK.

    agent = Agent(..., mcp={"servers": [
        {"name": "fs", "transport": "stdio", "command": "python", "args": ["server.py"], "env": {...}},
        {"name": "web", "transport": "streamablehttp", "url": "http://127.0.0.1:8123/mcp",
         "headers": {"Authorization": "Bearer ..."}},
    ]})

Each server's tools become Tyler tool dicts named `<server>__<tool>` (per-server `"prefix"` changes
that; `"prefix": ""` keeps the bare names). Progress notifications the server sends while a tool
runs are forwarded to the tool's `ToolContext.report_progress`, which the agent turns into
TOOL_PROGRESS events. `MCPManager.close()` ends every session and stops stdio server processes.

Server keys: name (required), transport ("stdio" | "streamablehttp"; aliases "streamable_http",
"streamable-http", "http"), command/args/env/cwd (stdio), url/headers (HTTP), prefix,
include_tools/exclude_tools (lists of MCP tool names), timeout (seconds per call),
connect_timeout (seconds, default 30), fail_silent (skip a server that cannot be reached instead of
raising ConfigurationError).

The SDK is imported only when `connect` runs, so `import tyler` does not need it. The SDK's
transports are anyio context managers whose cancel scopes must be exited by the task that entered
them, so one dedicated owner task enters every session and later exits them; tool calls from
other tasks only send requests over the sessions' streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigurationError, TylerError
from .tools import ToolDict, dict_tool_name

logger = logging.getLogger(__name__)

CONTEXT_PARAM = "_tyler_ctx"  # keyword the core injects the ToolContext as; unlikely to clash with MCP args
_HTTP_TRANSPORTS = {"streamablehttp", "streamable_http", "streamable-http", "http"}
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class MCPToolCallError(TylerError):
    """An MCP tool call failed: the server returned an error result, or the session is gone.

    Raised inside the tool implementation, so the agent reports it as a TOOL_ERROR.
    """


@dataclass(slots=True)
class MCPServerConfig:
    """One server entry of the `mcp` configuration, validated."""

    name: str
    transport: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prefix: str | None = None
    include_tools: list[str] | None = None
    exclude_tools: list[str] = field(default_factory=list)
    timeout: float | None = None
    connect_timeout: float = 30.0
    fail_silent: bool = False

    @property
    def tool_prefix(self) -> str:
        return self.prefix if self.prefix is not None else f"{self.name}__"


_KNOWN_KEYS = set(MCPServerConfig.__dataclass_fields__)


def parse_config(config: dict[str, Any] | list[dict[str, Any]]) -> list[MCPServerConfig]:
    """Validate an `mcp=` configuration; raise ConfigurationError naming the bad entry."""
    entries = config.get("servers") if isinstance(config, dict) else config
    if not isinstance(entries, list):
        raise ConfigurationError("mcp config needs a 'servers' list")
    servers: list[MCPServerConfig] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"mcp server #{index} must be a dict, got {type(entry).__name__}")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"mcp server #{index} needs a non-empty 'name'")
        unknown = set(entry) - _KNOWN_KEYS
        if unknown:
            raise ConfigurationError(f"mcp server {name!r}: unknown keys {sorted(unknown)}")
        transport = str(entry.get("transport", "stdio")).lower()
        if transport in _HTTP_TRANSPORTS:
            transport = "streamablehttp"
        if transport == "stdio" and not entry.get("command"):
            raise ConfigurationError(f"mcp server {name!r}: stdio transport needs 'command'")
        if transport == "streamablehttp" and not entry.get("url"):
            raise ConfigurationError(f"mcp server {name!r}: streamablehttp transport needs 'url'")
        if transport not in ("stdio", "streamablehttp"):
            raise ConfigurationError(
                f"mcp server {name!r}: unsupported transport {entry.get('transport')!r} "
                "(use 'stdio' or 'streamablehttp')"
            )
        if any(s.name == name for s in servers):
            raise ConfigurationError(f"mcp server name {name!r} is used twice")
        values = {k: v for k, v in entry.items() if v is not None}
        values["transport"] = transport
        values["args"] = [str(a) for a in values.get("args", [])]
        servers.append(MCPServerConfig(**values))
    return servers


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    """Attribute by its SDK 2.x (snake_case) or 1.x (camelCase) name."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _errlog() -> Any:
    # The SDK hands errlog to the subprocess as its stderr, which needs a real file descriptor;
    # under output capture sys.stderr may not have one.
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
    return sys.stderr


async def _open_transport(stack: contextlib.AsyncExitStack, server: MCPServerConfig) -> tuple[Any, Any]:
    if server.transport == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=server.command or "", args=server.args, env=server.env, cwd=server.cwd)
        streams = await stack.enter_async_context(stdio_client(params, errlog=_errlog()))
        return streams[0], streams[1]
    from mcp.client import streamable_http

    url = server.url or ""
    if hasattr(streamable_http, "streamable_http_client"):  # SDK >= 1.2x and 2.x: headers via the client
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = await stack.enter_async_context(create_mcp_http_client(headers=server.headers or None))
        streams = await stack.enter_async_context(streamable_http.streamable_http_client(url, http_client=client))
    else:  # older 1.x; looked up by name because 2.x removed it (and type checkers know)
        legacy_client = getattr(streamable_http, _LEGACY_HTTP_CLIENT)
        streams = await stack.enter_async_context(legacy_client(url, headers=server.headers or None))
    return streams[0], streams[1]


_LEGACY_HTTP_CLIENT = "streamablehttp_client"


async def _list_tools(session: Any) -> list[Any]:
    result = await session.list_tools()
    tools = list(result.tools)
    cursor = _field(result, "next_cursor", "nextCursor")
    while cursor:
        try:  # SDK 2.x
            from mcp.types import PaginatedRequestParams

            result = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
        except (ImportError, TypeError):  # SDK 1.x
            result = await session.list_tools(cursor=cursor)
        tools.extend(result.tools)
        cursor = _field(result, "next_cursor", "nextCursor")
    return tools


def _describe_block(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        mime = _field(block, "mime_type", "mimeType", default="unknown type")
        return f"[{kind}: {mime}, {len(block.data) * 3 // 4} bytes]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        return text if text is not None else f"[resource {resource.uri}: binary content]"
    if kind == "resource_link":
        return f"[resource link: {block.uri}]"
    return f"[{kind or 'unknown'} content]"


def call_result_text(result: Any) -> str:
    """Text for the model from a CallToolResult; raise MCPToolCallError if it is an error result."""
    blocks = list(getattr(result, "content", None) or [])
    text = "\n".join(_describe_block(b) for b in blocks)
    structured = _field(result, "structured_content", "structuredContent")
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False)
    if _field(result, "is_error", "isError", default=False):
        raise MCPToolCallError(text or "the MCP tool reported an error")
    return text


def _tool_name(prefix: str, remote: str) -> str:
    return _NAME_BAD.sub("_", f"{prefix}{remote}")[:64]


class MCPManager:
    """Connects to MCP servers, exposes their tools as Tyler tool dicts, and closes them."""

    def __init__(self) -> None:
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._sessions: dict[str, Any] = {}
        self._tools: list[ToolDict] = []
        self._closed = False

    @property
    def tools(self) -> list[ToolDict]:
        """The tool dicts of every connected server (empty before `connect`)."""
        return list(self._tools)

    @property
    def connected(self) -> list[str]:
        """Names of the servers with a live session."""
        return list(self._sessions)

    async def connect(self, config: dict[str, Any] | list[dict[str, Any]]) -> list[ToolDict]:
        """Start every configured server, list its tools, and return them as Tyler tool dicts.

        Raises ConfigurationError for an invalid config or a server that cannot be reached (unless
        it has `fail_silent`); no session is left open when it raises.
        """
        if self._owner is not None:
            raise ConfigurationError("this MCPManager is already connected; create another one")
        servers = parse_config(config)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner = asyncio.create_task(self._own(servers, ready), name="tyler-mcp-sessions")
        try:
            await asyncio.shield(ready)
        except BaseException:
            await self._abort()
            raise
        return self.tools

    async def close(self) -> None:
        """End every session (stdio servers are stopped). Safe to call twice."""
        self._closed = True
        owner, self._owner = self._owner, None
        if owner is None:
            return
        self._stop.set()
        try:
            await owner
        except Exception:
            logger.warning("error while closing MCP sessions", exc_info=True)
        finally:
            self._sessions.clear()

    async def _abort(self) -> None:
        owner, self._owner = self._owner, None
        self._closed = True
        if owner is not None and not owner.done():
            self._stop.set()
            owner.cancel()
        if owner is not None:
            with contextlib.suppress(BaseException):
                await owner  # its error already reached the caller through `ready`
        self._sessions.clear()
        self._tools.clear()

    async def _own(self, servers: list[MCPServerConfig], ready: asyncio.Future[None]) -> None:
        """The owner task: enters every session, waits for close(), exits them in LIFO order."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                for server in servers:
                    await self._start_server(stack, server)
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                return
            raise

    async def _start_server(self, stack: contextlib.AsyncExitStack, server: MCPServerConfig) -> None:
        own = contextlib.AsyncExitStack()
        try:
            session, remote_tools = await _open_session(own, server)
        except BaseException as exc:
            error = await _unwind(own, exc)
            if not isinstance(error, Exception):
                raise error from None  # a real cancellation of the caller: not a connect failure
            reason = _unwrap(error)
            if server.fail_silent:
                logger.warning("MCP server %r skipped (fail_silent): %s", server.name, reason)
                return
            raise ConfigurationError(f"MCP server {server.name!r} could not be connected: {reason}") from error
        await stack.enter_async_context(own)
        self._sessions[server.name] = session
        taken = {dict_tool_name(t) for t in self._tools}
        for remote in remote_tools:
            if server.include_tools is not None and remote.name not in server.include_tools:
                continue
            if remote.name in server.exclude_tools:
                continue
            tool = self._wrap(server, remote)
            name = dict_tool_name(tool)
            if name in taken:
                raise ConfigurationError(f"MCP tool name {name!r} is defined twice; set a 'prefix'")
            taken.add(name)
            self._tools.append(tool)

    def _wrap(self, server: MCPServerConfig, remote: Any) -> ToolDict:
        name = _tool_name(server.tool_prefix, remote.name)
        schema = _field(remote, "input_schema", "inputSchema") or {"type": "object", "properties": {}}
        description = remote.description or f"{remote.name} (MCP server {server.name})"
        tool: ToolDict = {
            "definition": {
                "type": "function",
                "function": {"name": name, "description": description, "parameters": schema},
            },
            "implementation": self._caller(server.name, remote.name),
            "context_param": CONTEXT_PARAM,
            "mcp_server": server.name,
        }
        if server.timeout is not None:
            tool["timeout"] = server.timeout
        return tool

    def _caller(self, server_name: str, remote_name: str) -> Callable[..., Awaitable[str]]:
        async def call_mcp_tool(_tyler_ctx: Any = None, **arguments: Any) -> str:
            session = self._sessions.get(server_name)
            if session is None or self._closed or self._owner is None or self._owner.done():
                raise MCPToolCallError(f"MCP server {server_name!r} is not connected")
            progress = _progress_forwarder(_tyler_ctx)
            try:
                result = await session.call_tool(remote_name, arguments, progress_callback=progress)
            except MCPToolCallError:
                raise
            except Exception as exc:
                raise MCPToolCallError(f"MCP tool {remote_name!r} on {server_name!r} failed: {_unwrap(exc)}") from exc
            return call_result_text(result)

        call_mcp_tool.__name__ = f"mcp_{server_name}_{remote_name}"
        return call_mcp_tool

    async def __aenter__(self) -> MCPManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _progress_forwarder(ctx: Any) -> Callable[[float, float | None, str | None], Awaitable[None]] | None:
    if ctx is None:
        return None

    async def forward(progress: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(progress, total, message)

    return forward


async def _open_session(own: contextlib.AsyncExitStack, server: MCPServerConfig) -> tuple[Any, list[Any]]:
    """Enter the transport and the ClientSession into `own`, initialize, and list the tools."""
    import anyio

    from mcp import ClientSession

    await own.__aenter__()
    read, write = await _open_transport(own, server)
    session = await own.enter_async_context(ClientSession(read, write))
    # Only the requests are timed: a cancel scope around the context enters above would close
    # before the transports' own scopes, which anyio refuses.
    with anyio.fail_after(server.connect_timeout):
        await session.initialize()
        remote_tools = await _list_tools(session)
    return session, remote_tools


async def _unwind(own: contextlib.AsyncExitStack, exc: BaseException) -> BaseException:
    """Exit the half-open contexts of a failed connect, in this task; return the error to report.

    A transport failing (HTTP 401, process exit) cancels its host task through the SDK's task
    group; handing that CancelledError to the contexts' exits lets the task group swap it for the
    real error. A cancellation that is not theirs comes back out as itself.
    """
    try:
        suppressed = await own.__aexit__(type(exc), exc, exc.__traceback__)
    except BaseException as raised:
        return raised
    if suppressed and isinstance(exc, asyncio.CancelledError):
        return ConnectionError("the connection closed during the handshake")
    return exc


def _unwrap(exc: BaseException) -> str:
    """The innermost useful message of an (anyio) exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


__all__ = ["CONTEXT_PARAM", "MCPManager", "MCPServerConfig", "MCPToolCallError", "call_result_text", "parse_config"]
