"""A small HTTP/1.1 server connection on an `asyncio.Protocol`, with h11 parsing the requests.

Why not starlette/uvicorn: the benchmarks run 1,000 concurrent streams at 50 events/s and
1,000-event replies against this fixture, and the fixture must not be what they measure. An ASGI
stack costs several Python calls and objects per body chunk; here one SSE event is one
pre-encoded `transport.write`. h11 (already installed with httpx) parses requests and frames the
response head and end, which is where HTTP's edge cases are; the body chunks themselves are
framed by hand (`<hex length>\\r\\n<data>\\r\\n`, exactly what h11 would write) because h11's
per-chunk `send(Data)` costs ~30x more than the framing itself.

Being a Protocol also gives immediate disconnect detection: `connection_lost` fires when the
client closes, even while the response is sleeping between events or stalled on purpose, and it
cancels the request's handler task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import cast

import h11

log = logging.getLogger("tyler.testing")

TASK_PREFIX = "fake-model-http: "


@dataclass(slots=True)
class HTTPRequest:
    method: str
    target: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[["HTTPConnection", HTTPRequest], Awaitable[None]]


class HTTPConnection(asyncio.Protocol):
    """One client connection: parses requests one at a time (keep-alive), runs `handler` for each."""

    def __init__(self, handler: Handler, registry: set[HTTPConnection]) -> None:
        self._handler = handler
        self._registry = registry
        self._h11 = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._chunked = True
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # Called once if the client goes away while a response is in progress.
        self.on_client_gone: Callable[[], None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server's transport (uvloop's is not an asyncio.Transport subclass, same methods).
        self.transport = cast(asyncio.Transport, transport)
        self._registry.add(self)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        self._h11.receive_data(b"")
        self._process()
        return False  # let the transport close: no client half-closes and then waits for an answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._registry.discard(self)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionResetError("client disconnected"))
            self._drain_waiter.exception()  # retrieved here: the task is cancelled anyway
        if self._task is not None and not self._task.done():
            if self.on_client_gone is not None:
                self.on_client_gone()
            self._task.cancel()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- request parsing --------------------------------------------------------------------

    def _process(self) -> None:
        while self._task is None and not self.closed:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(str(exc))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, []
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._start_handler()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _start_handler(self) -> None:
        req = self._request
        assert req is not None
        target = req.target.decode("latin-1")
        request = HTTPRequest(
            method=req.method.decode("ascii"),
            target=target,
            path=target.split("?", 1)[0],
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers},
            body=b"".join(self._body),
        )
        self._chunked = req.http_version == b"1.1"
        self._request, self._body = None, []
        self._task = asyncio.get_running_loop().create_task(
            self._run(request), name=f"{TASK_PREFIX}{request.method} {request.path}"
        )

    async def _run(self, request: HTTPRequest) -> None:
        try:
            await self._handler(self, request)
        except asyncio.CancelledError:
            self.close(abort=True)
            raise
        except Exception:
            log.exception("fake model server: handler failed for %s %s", request.method, request.path)
            if self._h11.our_state is h11.SEND_RESPONSE:
                self.send_response(500, [("content-type", "text/plain")], b"fake server handler error")
            else:
                self.close(abort=True)
        finally:
            self._task = None
            self.on_client_gone = None
        self._next_cycle()

    def _next_cycle(self) -> None:
        if self.closed:
            return
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self._process()
        elif self._h11.our_state in (h11.MUST_CLOSE, h11.DONE, h11.CLOSED):
            self.close()
        # else: the handler ended mid-response on purpose (abort) and already closed.

    def _bad_request(self, reason: str) -> None:
        log.warning("fake model server: bad HTTP request: %s", reason)
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # h11 allows an error reply here
            self.send_response(400, [("content-type", "text/plain"), ("connection", "close")], reason.encode())
        self.close()

    # -- response writing -------------------------------------------------------------------

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """Start a streamed response (chunked on HTTP/1.1)."""
        assert self.transport is not None
        self.transport.write(self._h11.send(h11.Response(status_code=status, headers=list(headers))) or b"")

    def frame(self, data: bytes) -> bytes:
        """One body chunk as it goes on the wire."""
        return b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data

    def write_raw(self, framed: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(framed)

    def send_chunk(self, data: bytes) -> None:
        self.write_raw(self.frame(data))

    def end_body(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(self._h11.send(h11.EndOfMessage()) or b"")

    def send_response(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """A complete response with Content-Length."""
        assert self.transport is not None
        head = self._h11.send(h11.Response(status_code=status, headers=[*headers, ("content-length", str(len(body)))]))
        data = self._h11.send(h11.Data(data=body)) if body else b""
        self.transport.write((head or b"") + (data or b"") + (self._h11.send(h11.EndOfMessage()) or b""))

    @property
    def paused(self) -> bool:
        return self._paused

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        if self._paused and not self.closed:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    def close(self, abort: bool = False) -> None:
        """Close the connection (flushing what was written unless `abort`)."""
        if self.transport is not None and not self.transport.is_closing():
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
