"""MCPManager against a real MCP server process (stdio and streamable HTTP)."""

from __future__ import annotations

import sys

import pytest
from mcp_process import alive, wait_for_exit

from tyler.exceptions import ConfigurationError
from tyler.mcp import CONTEXT_PARAM, MCPManager, MCPToolCallError, parse_config


class Progress:
    """Stands in for tyler.tools.ToolContext: records report_progress calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float | None, str | None]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.calls.append((progress, total, message))


def by_name(tools: list[dict]) -> dict[str, dict]:
    return {t["definition"]["function"]["name"]: t for t in tools}


async def call(tool: dict, ctx: object = None, **arguments: object) -> str:
    return await tool["implementation"](**{CONTEXT_PARAM: ctx}, **arguments)


async def test_stdio_tools_progress_and_close(stdio_config: dict) -> None:
    manager = MCPManager()
    tools = by_name(await manager.connect(stdio_config))
    assert {"test__add", "test__count_slowly", "test__fail", "test__echo_env", "test__pid"} <= set(tools)
    add = tools["test__add"]
    assert add["definition"]["function"]["parameters"]["required"] == ["a", "b"]
    assert add["context_param"] == CONTEXT_PARAM
    assert await call(add, a=2, b=3) == "5"

    progress = Progress()
    assert await call(tools["test__count_slowly"], progress, steps=3) == "counted to 3"
    assert progress.calls == [(1, 3, "step 1 of 3"), (2, 3, "step 2 of 3"), (3, 3, "step 3 of 3")]
    assert await call(tools["test__count_slowly"], None, steps=2) == "counted to 2"  # no ctx: fine

    with pytest.raises(MCPToolCallError, match="the disk is on fire"):
        await call(tools["test__fail"], message="the disk is on fire")
    assert await call(tools["test__echo_env"], name="TYLER_MCP_TEST") == "from-config"
    assert (await call(tools["test__make_image"])).startswith("[image: image/png,")

    pid = int(await call(tools["test__pid"]))
    assert alive(pid)
    await manager.close()
    await wait_for_exit(pid)
    assert not alive(pid), "closing the manager must stop the stdio server process"
    with pytest.raises(MCPToolCallError, match="not connected"):
        await call(add, a=1, b=1)
    await manager.close()  # twice is fine


async def test_streamable_http(http_server: str) -> None:
    async with MCPManager() as manager:
        tools = by_name(
            await manager.connect({"servers": [{"name": "web", "transport": "streamablehttp", "url": http_server}]})
        )
        assert await call(tools["web__add"], a=40, b=2) == "42"
        progress = Progress()
        assert await call(tools["web__count_slowly"], progress, steps=4) == "counted to 4"
        assert [c[0] for c in progress.calls] == [1, 2, 3, 4]
        assert manager.connected == ["web"]


async def test_http_headers_are_sent(http_server_with_token: str) -> None:
    server = {"name": "auth", "transport": "http", "url": http_server_with_token}
    with pytest.raises(ConfigurationError, match="'auth' could not be connected"):
        await MCPManager().connect({"servers": [server]})
    async with MCPManager() as manager:
        tools = by_name(await manager.connect({"servers": [{**server, "headers": {"Authorization": "Bearer s3cret"}}]}))
        assert await call(tools["auth__add"], a=1, b=2) == "3"


async def test_prefix_filters_and_two_servers(stdio_config: dict, http_server: str) -> None:
    stdio = {**stdio_config["servers"][0], "prefix": "", "include_tools": ["add", "pid"]}
    http = {
        "name": "remote",
        "transport": "streamablehttp",
        "url": http_server,
        "prefix": "r-",
        "exclude_tools": ["fail"],
    }
    async with MCPManager() as manager:
        names = set(by_name(await manager.connect({"servers": [stdio, http]})))
    assert {"add", "pid"} <= names and "echo_env" not in names
    assert "r-add" in names and "r-fail" not in names


async def test_unreachable_servers(http_server: str) -> None:
    missing = {"name": "ghost", "transport": "stdio", "command": "/nonexistent/mcp-server"}
    with pytest.raises(ConfigurationError, match="'ghost' could not be connected"):
        await MCPManager().connect({"servers": [missing]})
    crashing = {
        "name": "crash",
        "command": sys.executable,
        "args": ["-c", "import sys; sys.exit(3)"],
        "connect_timeout": 20,
    }
    with pytest.raises(ConfigurationError, match="'crash' could not be connected"):
        await MCPManager().connect([crashing])
    ok = {"name": "ok", "transport": "streamablehttp", "url": http_server}
    async with MCPManager() as manager:
        tools = await manager.connect([{**missing, "fail_silent": True}, ok])
        assert manager.connected == ["ok"] and "ok__add" in by_name(tools)


async def test_server_crashing_mid_call_is_a_clear_error(stdio_config: dict) -> None:
    async with MCPManager() as manager:
        tools = by_name(await manager.connect(stdio_config))
        pid = int(await call(tools["test__pid"]))
        with pytest.raises(MCPToolCallError, match="'crash' on 'test' failed"):
            await call(tools["test__crash"], Progress())
        await wait_for_exit(pid)
        # Later calls fail at once with the same kind of error instead of waiting on a dead process.
        with pytest.raises(MCPToolCallError, match="'add' on 'test' failed"):
            await call(tools["test__add"], a=1, b=2)
    # Leaving the block closed the manager without hanging on the dead session.


async def test_connect_twice_refused(http_server: str) -> None:
    async with MCPManager() as manager:
        await manager.connect([{"name": "a", "transport": "http", "url": http_server}])
        with pytest.raises(ConfigurationError, match="already connected"):
            await manager.connect([{"name": "b", "transport": "http", "url": http_server}])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nope": []}, "needs a 'servers' list"),
        ([{"transport": "stdio", "command": "x"}], "needs a non-empty 'name'"),
        ([{"name": "a", "transport": "stdio"}], "needs 'command'"),
        ([{"name": "a", "transport": "http"}], "needs 'url'"),
        ([{"name": "a", "transport": "sse", "url": "http://x"}], "unsupported transport"),
        ([{"name": "a", "command": "x"}, {"name": "a", "command": "y"}], "used twice"),
        ([{"name": "a", "command": "x", "colour": "red"}], "unknown keys"),
    ],
)
def test_config_errors(config: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config(config)  # type: ignore[arg-type]


def test_call_result_text_shapes() -> None:
    from types import SimpleNamespace as NS

    from tyler.mcp import _tool_name, call_result_text

    text = NS(type="text", text="hello")
    resource = NS(type="resource", resource=NS(uri="file:///a.txt", text="file body"))
    blob = NS(type="resource", resource=NS(uri="file:///b.bin", text=None, blob="AAAA"))
    link = NS(type="resource_link", uri="file:///c.txt")
    assert call_result_text(NS(content=[text, resource, blob, link], is_error=False)) == (
        "hello\nfile body\n[resource file:///b.bin: binary content]\n[resource link: file:///c.txt]"
    )
    # Only structured content (SDK 1.x spelling): it is returned as JSON.
    assert call_result_text(NS(content=[], structuredContent={"temp": 21.5}, isError=False)) == '{"temp": 21.5}'
    with pytest.raises(MCPToolCallError, match="the MCP tool reported an error"):
        call_result_text(NS(content=[], is_error=True))
    assert _tool_name("my.server__", "do thing/now") == "my_server__do_thing_now"
    assert len(_tool_name("x" * 60 + "__", "tool")) == 64
