"""Server-sent events from hostile or broken servers: huge events, endless lines, slow drips,
keep-alives only, and the overall request time limit (issue 15, items 4 and 12).

Each server here is a real HTTP/1.1 server on loopback that sends exactly the bytes a test scripts,
with bounded loops that end by themselves (and at once when the client goes away).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.exceptions import ModelTimeoutError, SSEEventTooLargeError, StallTimeoutError
from tyler.providers.base import ModelRequest, ModelSettings
from tyler.providers.openai import OpenAIProvider
from tyler.providers.sse import SSEDecoder

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


def chunk(text: str, finish: str | None = None) -> bytes:
    import json

    body = {"id": "c", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@contextlib.asynccontextmanager
async def raw_server(script: Script, head_delay: float = 0.0) -> AsyncIterator[dict[str, Any]]:
    """An HTTP/1.1 server answering every POST with a close-delimited SSE body written by `script`
    (its head after `head_delay` seconds)."""
    seen: dict[str, Any] = {"requests": 0, "disconnected": asyncio.Event()}
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            seen["requests"] += 1
            await asyncio.sleep(head_delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            await script(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            seen["disconnected"].set()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seen["url"] = f"http://127.0.0.1:{port}/v1"
    try:
        yield seen
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def stream_all(url: str, **settings: Any) -> list[str]:
    provider = OpenAIProvider(base_url=url, model="m")
    request = ModelRequest(model="m", messages=[Message(role="user", content="hi")],
                           settings=ModelSettings(max_retries=0, **settings))
    return [c.text async for c in provider.stream(request) if c.text]


# -- the decoder ----------------------------------------------------------------------------------


def test_decoder_gives_the_same_events_however_the_bytes_are_split() -> None:
    stream = b"".join(
        [chunk(f"w{i} ") for i in range(50)]
        + [b": keep-alive\n\n", b"event: ping\ndata: {}\n\n", b"event: x\r\ndata: a\r\ndata: b\r\n\r\n",
           b"\r\n\r\ndata: {\"late\": 1}\r\n\r\n", b"data: last"]
    )
    rng = random.Random(7)
    expected = None
    for _ in range(200):
        decoder, got, pos = SSEDecoder(), [], 0
        while pos < len(stream):
            n = rng.randint(1, 30)
            got += decoder.feed(stream[pos:pos + n])
            pos += n
        got += decoder.flush()
        expected = expected or got
        assert got == expected
    assert expected is not None and len(expected) == 53
    assert expected[50:] == [("x", b"a\nb"), (None, b'{"late": 1}'), (None, b"last")]


def test_reads_of_one_whole_event_each_give_what_byte_by_byte_reads_give() -> None:
    """One complete event per network read (many concurrent streams) has a fast path of its own."""
    stream = [chunk("a"), b"data: b\n\n", b"data: two\ndata: lines\n\n", b"event: x\ndata: c\n\n",
              b"data: d\r\n\r\n", b"\ndata: e\n\n", b"data: f\n\ndata: g\n\n", b"data:h\n\n"]
    whole, single = SSEDecoder(), SSEDecoder()
    got = [ev for read in stream for ev in whole.feed(read)]
    expected = [ev for byte in b"".join(stream) for ev in single.feed(bytes([byte]))]
    assert got == expected
    assert got[1:] == [(None, b"b"), (None, b"two\nlines"), ("x", b"c"), (None, b"d"), (None, b"e"),
                       (None, b"f"), (None, b"g"), (None, b"h")]


def test_decoder_refuses_an_event_past_the_limit_and_an_endless_line() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    assert decoder.feed(b"data: " + b"x" * 990 + b"\n\n") == [(None, b"x" * 990)]
    with pytest.raises(SSEEventTooLargeError, match="maximum event size of 1000 bytes"):
        decoder.feed(b"data: " + b"y" * 2000 + b"\n\n")  # complete, but too large
    endless = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(SSEEventTooLargeError, match="has not ended"):
        for _ in range(100):
            endless.feed(b"z" * 64)


def _cpu_to_parse(size: int) -> float:
    event = b"data: " + b"x" * size + b"\n\n"
    best = float("inf")
    for _ in range(3):
        decoder = SSEDecoder(max_event_bytes=size + 100)
        t0 = time.process_time()
        for i in range(0, len(event), 4096):
            decoder.feed(event[i:i + 4096])
        best = min(best, time.process_time() - t0)
    return best


def test_a_large_event_is_parsed_in_linear_time() -> None:
    # Eight times the bytes must cost about eight times the CPU. Re-scanning the buffer on every
    # read (what the parser did) makes it ~64 times; the bound leaves room for a noisy machine.
    small, large = _cpu_to_parse(1 << 20), _cpu_to_parse(8 << 20)
    assert large < 24 * max(small, 1e-3), (small, large)


# -- through a provider, against real sockets -----------------------------------------------------


async def test_an_event_larger_than_the_maximum_is_a_typed_error() -> None:
    async def script(w: asyncio.StreamWriter) -> None:
        w.write(chunk("ok "))
        w.write(b"data: " + b"x" * (300 * 1024) + b"\n\n")
        await w.drain()

    async with raw_server(script) as srv:
        with pytest.raises(SSEEventTooLargeError) as info:
            await stream_all(srv["url"], max_event_bytes=256 * 1024)
    assert info.value.provider == "openai"


async def test_an_endless_data_line_is_cut_off_at_the_maximum() -> None:
    async def script(w: asyncio.StreamWriter) -> None:
        w.write(b"data: ")
        for _ in range(4096):  # 256 MiB at most; the client leaves long before
            w.write(b"x" * 65536)
            await w.drain()

    async with raw_server(script) as srv:
        with pytest.raises(SSEEventTooLargeError, match="has not ended"):
            await asyncio.wait_for(stream_all(srv["url"], max_event_bytes=1 << 20), 60)
        assert await asyncio.wait_for(srv["disconnected"].wait(), 30)


async def drip(w: asyncio.StreamWriter, piece: bytes, every: float, limit: float = 60.0) -> None:
    w.write(chunk("hello "))
    end = time.monotonic() + limit
    while time.monotonic() < end:
        await asyncio.sleep(every)
        w.write(piece)
        await w.drain()


@pytest.mark.parametrize("piece", [b"x", b": keep-alive\n\n", b"event: ping\ndata: {}\n\n"],
                         ids=["partial-event-bytes", "comments", "pings"])
async def test_stall_timer_counts_only_complete_events(piece: bytes) -> None:
    """A server that drips bytes of an event that never ends, or only keep-alives, is stalled."""
    async with raw_server(lambda w: drip(w, piece, 0.05)) as srv:
        started = time.monotonic()
        with pytest.raises(StallTimeoutError, match="no complete event"):
            await asyncio.wait_for(stream_all(srv["url"], stall_timeout=0.5), 30)
        took = time.monotonic() - started
    assert took >= 0.5  # not before the stall timeout (the wait_for above bounds it from above)


async def test_time_the_consumer_holds_the_stream_is_not_a_stall() -> None:
    async def script(w: asyncio.StreamWriter) -> None:
        for i in range(3):
            w.write(chunk(f"w{i} "))
            await w.drain()
        w.write(chunk("", "stop") + b"data: [DONE]\n\n")
        await w.drain()

    provider = None
    async with raw_server(script) as srv:
        provider = OpenAIProvider(base_url=srv["url"], model="m")
        request = ModelRequest(model="m", messages=[Message(role="user", content="hi")],
                               settings=ModelSettings(stall_timeout=0.2, max_retries=0))
        got = []
        async for c in provider.stream(request):
            if c.text:
                got.append(c.text)
                await asyncio.sleep(0.5)  # a slow consumer, longer than the stall timeout
    assert got == ["w0 ", "w1 ", "w2 "]


async def test_request_timeout_bounds_a_steady_but_endless_stream() -> None:
    async def script(w: asyncio.StreamWriter) -> None:
        for i in range(600):  # an event every 0.05 s for 30 s at most
            w.write(chunk(f"w{i} "))
            await w.drain()
            await asyncio.sleep(0.05)

    async with raw_server(script) as srv:
        thread = Thread()
        thread.add_message(Message(role="user", content="hi"))
        agent = Agent(model_name="openai/m", api_base=srv["url"], api_key="x", request_timeout=1.0, max_retries=0)
        events = [e async for e in agent.stream(thread)]
        assert await asyncio.wait_for(srv["disconnected"].wait(), 10)
    end = events[-1]
    assert end.type is EventType.EXECUTION_ERROR
    assert end.data["error_type"] == "ModelTimeoutError"
    assert "request_timeout=1s" in end.data["message"]
    chunks = [e for e in events if e.type is EventType.LLM_STREAM_CHUNK]
    assert 0 < len(chunks) < 600
    assert thread.messages[-1].content == "".join(e.data["content_chunk"] for e in chunks)  # nothing lost


async def test_request_timeout_also_bounds_waiting_for_the_response_head() -> None:
    async def script(w: asyncio.StreamWriter) -> None:
        w.write(chunk("late", "stop"))

    async with raw_server(script, head_delay=30) as srv:
        thread = Thread()
        thread.add_message(Message(role="user", content="hi"))
        agent = Agent(model_name="openai/m", api_base=srv["url"], api_key="x", request_timeout=0.5,
                      stall_timeout=60, max_retries=0)
        with pytest.raises(ModelTimeoutError, match="request_timeout=0.5s before the response started"):
            await asyncio.wait_for(agent.go(thread), 30)
