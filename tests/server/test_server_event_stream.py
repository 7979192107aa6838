"""`EventStream` (tyler.server._http) driven as an ASGI app: how frames become body writes.

The ASGI `send` here records what the server would put on the wire; the frames come from real
async generators that wait on real asyncio events, so "ready" and "would wait" are what the pump
sees in production (a network read that completed many events, then a wait for the next read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from tyler.server._http import EventStream

BOUND = 30.0  # generous: the machine may be loaded


class Wire:
    """ASGI send/receive: records body writes; the client never leaves unless told to."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.wrote = asyncio.Event()
        self.left = asyncio.Event()
        self.hold: asyncio.Event | None = None  # set: the next body write waits for it (flow control)
        self.held = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if self.hold is not None and message["body"]:
            hold, self.hold = self.hold, None
            self.held.set()
            await hold.wait()
        self.bodies.append(message["body"].decode())
        self.wrote.set()

    async def receive(self) -> dict[str, Any]:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def written(self, text: str) -> None:
        """Wait until `text` was written (in some body)."""
        async def seen() -> None:
            while text not in "".join(self.bodies):
                self.wrote.clear()
                await self.wrote.wait()
        await asyncio.wait_for(seen(), BOUND)


async def serve(stream: EventStream, wire: Wire) -> None:
    await asyncio.wait_for(stream({"type": "http"}, wire.receive, wire.send), BOUND)  # type: ignore[arg-type]


async def test_a_burst_of_ready_frames_is_one_write_sent_before_the_next_wait() -> None:
    wire = Wire()
    next_read = asyncio.Event()

    async def frames() -> AsyncGenerator[str, None]:
        for frame in ("a;", "b;", "c;"):  # one upstream read completed three events
            yield frame
        await next_read.wait()  # set only once the burst is on the wire: it must go out before this wait
        yield "d;"
        yield "e;"

    async def client() -> None:
        await wire.written("c;")
        next_read.set()

    await asyncio.gather(serve(EventStream(frames(), heartbeat=60), wire), client())
    assert wire.bodies == ["a;b;c;", "d;e;", ""]


async def test_a_write_the_client_is_slow_to_take_keeps_order_and_every_frame() -> None:
    wire = Wire()
    wire.hold = release = asyncio.Event()

    async def frames() -> AsyncGenerator[str, None]:
        for i in range(5):
            yield f"{i};"
            await asyncio.sleep(0)  # a real suspension between frames

    async def client() -> None:
        await asyncio.wait_for(wire.held.wait(), BOUND)  # the first write is stuck in flow control
        release.set()

    await asyncio.gather(serve(EventStream(frames(), heartbeat=60), wire), client())
    assert "".join(wire.bodies) == "0;1;2;3;4;"


async def test_explicit_cancel_ends_with_the_tail_after_what_was_sent() -> None:
    wire = Wire()
    pump: list[asyncio.Task[Any]] = []
    forever = asyncio.Event()
    closed = asyncio.Event()

    async def frames() -> AsyncGenerator[str, None]:
        try:
            yield "a;"
            yield "b;"
            await forever.wait()
            yield "never;"
        finally:
            closed.set()

    async def client() -> None:
        await wire.written("b;")
        pump[0].cancel()

    stream = EventStream(frames(), heartbeat=60, cancelled=lambda: True, tail=lambda: "end;",
                         register=pump.append)
    await asyncio.gather(serve(stream, wire), client())
    assert closed.is_set()
    assert wire.bodies == ["a;b;", "end;", ""]


async def test_a_disconnect_closes_the_frames_mid_wait() -> None:
    wire = Wire()
    closed = asyncio.Event()
    waiting = asyncio.Event()

    async def frames() -> AsyncGenerator[str, None]:
        try:
            yield "a;"
            waiting.set()
            await asyncio.Event().wait()  # e.g. the upstream read: the disconnect must end it
            yield "never;"
        finally:
            closed.set()

    async def client() -> None:
        await asyncio.wait_for(waiting.wait(), BOUND)
        wire.left.set()

    await asyncio.gather(serve(EventStream(frames(), heartbeat=60), wire), client())
    assert closed.is_set()
    assert wire.bodies == ["a;"]


async def test_heartbeat_goes_out_while_frames_wait() -> None:
    wire = Wire()
    more = asyncio.Event()

    async def frames() -> AsyncGenerator[str, None]:
        yield "a;"
        await more.wait()
        yield "b;"

    async def client() -> None:
        await wire.written(": ping")
        more.set()

    await asyncio.gather(serve(EventStream(frames(), heartbeat=0.05), wire), client())
    text = "".join(wire.bodies)
    assert text.startswith("a;") and ": ping\n\n" in text and text.endswith("b;")
