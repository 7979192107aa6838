"""A real MCP server for the tests, built with the official SDK (FastMCP / MCPServer).

    python mcp_test_server.py stdio
    python mcp_test_server.py http --port 8123 [--token SECRET]

Tools: add, count_slowly (sends progress notifications), fail (returns an MCP tool error),
echo_env, pid, crash (the process exits mid-call), make_image. Works with mcp 1.x (FastMCP) and 2.x (MCPServer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

try:  # mcp 2.x
    from mcp.server.mcpserver import Context, Image
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context, Image  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as Server
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

server = Server("tyler-test-server")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def count_slowly(steps: int, ctx: Context) -> str:
    """Count to `steps`, reporting progress after each step."""
    for step in range(1, steps + 1):
        await asyncio.sleep(0.01)
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
    return f"counted to {steps}"


@server.tool()
def fail(message: str) -> str:
    """Always fails with `message` (a deliberate tool error, whose text reaches the client)."""
    raise ToolError(message)


@server.tool()
def echo_env(name: str) -> str:
    """The value of an environment variable of the server process."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def crash(ctx: Context) -> str:
    """Reports progress, then the server process dies in the middle of the call."""
    await ctx.report_progress(1, 2, "about to crash")
    os._exit(3)


@server.tool()
def make_image() -> Image:
    """A tiny PNG image."""
    return Image(data=b"\x89PNG\r\n\x1a\nfake", format="png")


def _require_token(app: Any, token: str) -> Any:
    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    try:
        app = server.streamable_http_app(host="127.0.0.1")
    except TypeError:  # mcp 1.x takes no arguments
        app = server.streamable_http_app()
    if args.token:
        app = _require_token(app, args.token)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
