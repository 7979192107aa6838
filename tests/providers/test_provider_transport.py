"""The HTTP transport of the native providers: the shared per-loop pool (aiohttp), an injected
client (`Agent(http_client=...)`: aiohttp or httpx), proxies from the environment, and closing."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import ConfigurationError
from tyler.providers.transport import default_transport
from tyler.testing import FakeModelServer, Turn

LONG = " ".join(f"word{i}" for i in range(200))


def user_thread(text: str = "hi") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def test_the_default_pool_is_one_aiohttp_session_per_loop(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="one"))
    env.enqueue(Turn(text="two"))
    first, second = Agent(model_name="gpt-4o"), Agent(model_name="gpt-4o")
    assert (await first.go(user_thread())).content == "one"
    assert (await second.go(user_thread())).content == "two"
    transport = default_transport()
    assert transport is default_transport()
    assert isinstance(transport.session, aiohttp.ClientSession) and not transport.session.closed
    assert first._provider().transport is None and second._provider().transport is None  # type: ignore[attr-defined]


async def test_an_injected_httpx_client_carries_the_requests(env: FakeModelServer) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    env.enqueue(Turn(text="via httpx"))
    async with httpx.AsyncClient(headers={"X-Client": "mine"}, event_hooks={"request": [hook]}) as client:
        result = await Agent(model_name="gpt-4o", http_client=client).go(user_thread())
        assert not client.is_closed  # the caller's client: used, never closed by tyler
    assert result.content == "via httpx"
    assert seen == [env.url + "/v1/chat/completions"]
    assert env.requests[-1].headers["x-client"] == "mine"


async def test_an_injected_aiohttp_session_carries_the_requests(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="via aiohttp"))
    async with aiohttp.ClientSession(headers={"X-Client": "session"}) as session:
        result = await Agent(model_name="anthropic/claude-3-7-sonnet-20250219", http_client=session).go(user_thread())
        assert not session.closed
    assert result.content == "via aiohttp"
    assert env.requests[-1].headers["x-client"] == "session"


@pytest.mark.parametrize("kind", ["httpx", "aiohttp"])
async def test_break_closes_the_upstream_connection_of_an_injected_client(env: FakeModelServer, kind: str) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    client: Any = httpx.AsyncClient() if kind == "httpx" else aiohttp.ClientSession()
    try:
        thread = user_thread()
        seen = 0
        async for event in Agent(model_name="gpt-4o", http_client=client).stream(thread):
            if event.type is EventType.LLM_STREAM_CHUNK:
                seen += 1
                if seen == 3:
                    break
        assert await env.await_disconnect(timeout=5.0)
        assert env.requests[0].disconnected_early
    finally:
        await (client.aclose() if kind == "httpx" else client.close())


def test_an_http_client_of_another_kind_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="http_client must be an aiohttp.ClientSession or an httpx"):
        Agent(model_name="gpt-4o", http_client=object())


async def test_an_http_client_beside_a_custom_provider_is_refused() -> None:
    from tyler.testing import ScriptedModel

    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigurationError, match="give your provider= its client"):
            Agent(provider=ScriptedModel(Turn(text="hi")), http_client=client)


@contextlib.asynccontextmanager
async def answering_proxy(reply: str) -> AsyncIterator[dict[str, Any]]:
    """A forward proxy on loopback that answers model requests itself and records request lines."""
    seen: dict[str, Any] = {"lines": []}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        seen["lines"].append(line)
        length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                       if h.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        body = (
            b'data: {"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":"stop"}]}\n\n'
            b"data: [DONE]\n\n" % reply.encode()
        )
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield seen
    finally:
        server.close()
        await server.wait_closed()


async def test_the_default_pool_honours_http_proxy(clean_env: pytest.MonkeyPatch) -> None:
    async with answering_proxy("through the proxy") as proxy:
        clean_env.setenv("HTTP_PROXY", proxy["url"])
        clean_env.setenv("NO_PROXY", "")
        # A pool made before the variable was set would not see it: start from a fresh one.
        from tyler.providers import aclose_http

        await aclose_http()
        try:
            agent = Agent(model_name="openai/m", api_base="http://model.example.invalid/v1", api_key="x", max_retries=0)
            result = await agent.go(user_thread())
        finally:
            await aclose_http()
    assert result.content == "through the proxy"
    assert proxy["lines"] == ["POST http://model.example.invalid/v1/chat/completions HTTP/1.1"]


def test_asyncio_run_twice_leaves_no_unclosed_session_behind(fake_server: FakeModelServer) -> None:
    """Each asyncio.run gets its own pool, closed when that loop shuts down (nothing logged)."""
    code = textwrap.dedent(f"""
        import asyncio, gc, warnings
        warnings.simplefilter("always", ResourceWarning)
        from tyler import Agent, Message, Thread

        async def once(text):
            thread = Thread()
            thread.add_message(Message(role="user", content=text))
            agent = Agent(model_name="openai/m", api_base="{fake_server.url}/v1", api_key="x")
            return (await agent.go(thread)).content

        print(asyncio.run(once("a")), asyncio.run(once("b")))
        gc.collect()
    """)
    fake_server.set_default_turn(Turn(text="ok"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok ok"
    assert "Unclosed" not in proc.stderr and "unclosed" not in proc.stderr, proc.stderr


@contextlib.asynccontextmanager
async def idle_closing_server(how: str, *, drop_all: bool = False) -> AsyncIterator[dict[str, Any]]:
    """A model server whose keep-alive timeout is shorter than the client's: a request sent on a
    connection that sat idle after its first reply is dropped unread (closed, or reset when `how`
    is "reset") -- the race of a pooled connection the server closed just as it was reused, made
    certain. `drop_all` drops every request, first ones on new connections too. Counts the
    replies, the dropped requests and the connections."""
    seen: dict[str, Any] = {"answered": 0, "dropped": 0, "connections": 0}
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"fresh"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if served or drop_all:  # idle since its last reply: the server's keep-alive timer has fired
                    seen["dropped"] += 1
                    if how == "reset":
                        writer.transport.abort()
                    else:
                        writer.close()
                    return
                length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                await writer.drain()
                served += 1
                seen["answered"] += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen["url"] = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield seen
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("pool", ["default", "injected"])
async def test_a_request_on_a_stale_pooled_connection_is_sent_again_even_without_retries(
    clean_env: pytest.MonkeyPatch, how: str, pool: str
) -> None:
    """max_retries=0, yet a request that failed on a reused keep-alive connection before any
    response byte is sent once more on a new one: it never reached the server's handler."""
    from tyler.providers import aclose_http

    async with idle_closing_server(how) as server:
        await aclose_http()  # a pool of this test's own, empty
        session = aiohttp.ClientSession() if pool == "injected" else None
        try:
            agent = Agent(model_name="openai/m", api_base=server["url"] + "/v1", api_key="x", max_retries=0,
                          http_client=session)
            first = await agent.go(user_thread())
            second = await agent.go(user_thread())  # goes out on the first reply's pooled connection
        finally:
            if session is not None:
                await session.close()
            await aclose_http()
    assert first.content == second.content == "fresh"
    assert server["dropped"] == 1  # the reused connection really was stale
    assert server["answered"] == 2 and server["connections"] == 2


async def test_a_request_dropped_on_a_new_connection_is_not_sent_again(clean_env: pytest.MonkeyPatch) -> None:
    """Only a reused connection vouches that the request never reached a handler: on a new one
    the failure is reported (max_retries=0), not resent."""
    from tyler.exceptions import ModelConnectionError
    from tyler.providers import aclose_http

    async with idle_closing_server("close", drop_all=True) as server:
        await aclose_http()
        try:
            agent = Agent(model_name="openai/m", api_base=server["url"] + "/v1", api_key="x", max_retries=0)
            with pytest.raises(ModelConnectionError, match="Server disconnected"):
                await agent.go(user_thread())
        finally:
            await aclose_http()
    assert server["dropped"] == 1 and server["connections"] == 1
