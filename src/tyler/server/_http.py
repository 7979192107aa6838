"""HTTP plumbing every protocol shares: JSON bodies under a size limit, error bodies in each
protocol's shape, bearer-key auth, and the SSE response (heartbeats, disconnect, explicit cancel).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import aclosing
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..exceptions import RequestError

DEFAULT_MAX_BODY = 4 * 1024 * 1024
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",  # nginx and friends: do not buffer the stream
}
_OPENAI_PATHS = ("/v1/chat/", "/v1/responses", "/v1/models")
_OPENAI_TYPES = {401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
                 429: "rate_limit_error"}


def openai_error_body(error: RequestError) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}`, what OpenAI SDKs parse into `APIError`s."""
    kind = _OPENAI_TYPES.get(error.status, "invalid_request_error" if error.status < 500 else "server_error")
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}


def plain_error_body(error: RequestError) -> dict[str, Any]:
    """The error body of the non-OpenAI endpoints (native, AI SDK, AG-UI)."""
    return {"error": {"type": error.code, "message": error.message, "param": error.param}}


def error_body_for(path: str, error: RequestError) -> dict[str, Any]:
    return openai_error_body(error) if path.startswith(_OPENAI_PATHS) else plain_error_body(error)


def error_response(path: str, error: RequestError) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error_body_for(path, error), status_code=error.status, headers=headers)


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body; RequestError (413/400) for a body over `limit` or not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"request body is over the {limit}-byte limit", status=413, code="body_too_large")
    body = bytearray()
    async for piece in request.stream():  # also bounds chunked bodies that declare no length
        body += piece
        if len(body) > limit:
            raise RequestError(f"request body is over the {limit}-byte limit", status=413, code="body_too_large")
    if not body:
        raise RequestError("request body is empty: send a JSON object", code="invalid_json")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json") from None


def expect_object(value: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"{what} must be a JSON object, got {type(value).__name__}", code="invalid_type")
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_page(scope: Scope) -> bool:
    """The chat page and its static assets hold no secret: the page asks for the key itself."""
    path = scope["path"]
    return scope.get("method") in ("GET", "HEAD") and (path == "/" or path.startswith("/ui/"))


class BearerAuth:
    """ASGI middleware: every request but `GET /health` and CORS preflights needs a known key.

    Keys are compared in constant time. The key used is put in `scope["state"]["api_key"]` so
    per-key limits can count runs.
    """

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.keys:
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/health" or scope.get("method") == "OPTIONS" or _is_page(scope):
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        if key is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})
                return
            error = RequestError("missing or invalid API key: send 'Authorization: Bearer <key>'",
                                 status=401, code="invalid_api_key")
            await error_response(scope["path"], error)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)

    def _key(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                token = token.strip()
                if scheme.lower() != b"bearer" or not token:
                    return None
                # Compare against every key (no early exit) so timing says nothing about which matched.
                found = False
                for known in self.keys:
                    found |= hmac.compare_digest(token, known)
                return token.decode("latin-1") if found else None
        return None


class _Resumed:
    """Awaits the rest of a coroutine (or `__anext__` step) whose first step was run by hand and
    suspended on `first`: what `await` would have done from there, results and exceptions
    (cancellation included) passed through both ways."""

    __slots__ = ("first", "step")

    def __init__(self, step: Any, first: Any) -> None:
        self.step = step
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        step, value = self.step, self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown in by the task: the step decides
                try:
                    value = step.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = step.send(sent)
                except StopIteration as done:
                    return done.value


class EventStream:
    """A `text/event-stream` ASGI response fed by an async generator of encoded frames.

    - a `: ping` comment goes out whenever nothing was sent for `heartbeat` seconds (proxies cut
      idle streams after ~60 s);
    - a client disconnect cancels the pump, which closes `frames` (and so the run: upstream
      request closed, partial message kept);
    - an explicit cancel (`cancelled()` is true when the pump is cancelled) closes `frames` the
      same way, then sends `tail()`, the protocol's own ending for a stopped run;
    - `on_close` runs once whatever happened (releases the run's slot).
    """

    def __init__(
        self,
        frames: AsyncGenerator[str, None],
        *,
        heartbeat: float,
        headers: dict[str, str] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        tail: Callable[[], str] = lambda: "",
        on_close: Callable[[], None] | None = None,
        register: Callable[[asyncio.Task[Any]], None] | None = None,
    ) -> None:
        self.frames = frames
        self.heartbeat = heartbeat
        self.headers = {**SSE_HEADERS, **(headers or {})}
        self.cancelled = cancelled
        self.tail = tail
        self.on_close = on_close
        self.register = register
        self._last = 0.0
        self._lock = asyncio.Lock()
        self._gone = False
        self._pending: list[str] = []  # frames of the current burst, not written yet
        self._writing: asyncio.Future[None] | None = None  # a write waiting for the connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = [(k.encode(), v.encode()) for k, v in self.headers.items()]
            raw.append((b"content-type", b"text/event-stream; charset=utf-8"))
            await send({"type": "http.response.start", "status": 200, "headers": raw})
            self._last = asyncio.get_running_loop().time()
            pump = asyncio.ensure_future(self._pump(send))
            if self.register is not None:
                self.register(pump)
            watch = asyncio.ensure_future(self._watch(receive, pump))
            beat = asyncio.ensure_future(self._beat(send))
            try:
                await asyncio.wait({pump})
            finally:
                for task in (watch, beat):
                    task.cancel()
                await asyncio.gather(watch, beat, return_exceptions=True)
            if not pump.cancelled() and pump.exception() is not None:
                raise pump.exception()  # type: ignore[misc]
            if not self._gone:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self.on_close is not None:
                self.on_close()

    async def _send(self, send: Send, text: str) -> None:
        async with self._lock:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
        self._last = asyncio.get_running_loop().time()

    async def _pump(self, send: Send) -> None:
        try:
            async with aclosing(self.frames) as frames:
                await self._coalesce(frames, send)
        except asyncio.CancelledError:
            if self._gone or not self.cancelled():
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            # What the encoder already produced goes out before its ending, so the ending matches it.
            if self._writing is not None:
                await self._writing
            tail = "".join(self._pending) + self.tail()
            if tail:
                await self._send(send, tail)
        except OSError:  # the server reports a send to a closed connection
            self._gone = True
        finally:
            if self._writing is not None and not self._writing.done():
                self._writing.cancel()

    async def _coalesce(self, frames: AsyncGenerator[str, None], send: Send) -> None:
        """Send `frames`, one body write per burst rather than one per frame.

        A network read upstream often completes many events at once, and each body write costs a
        trip through the middleware and a syscall. So each step of `frames` is started by hand
        (`send(None)` on its `__anext__` awaitable): when it finishes without waiting, its frame
        joins the burst; when it would wait (for the network, a tool), the burst is written
        first and the step is then awaited as usual, in this task (the run's timeouts and
        cancellation see the task they expect). A write the connection cannot take at once
        (flow control) finishes in a task, awaited before the next step, so `frames` is never
        held mid-step while the client is slow.
        """
        pending = self._pending
        step_of = frames.__anext__
        while True:
            if self._writing is not None:
                writing, self._writing = self._writing, None
                await writing
            step = step_of()
            try:
                waiting_on = step.send(None)
            except StopIteration as ready:
                pending.append(ready.value)
                continue
            except StopAsyncIteration:
                break
            if pending:
                self._write_now(send, "".join(pending))
                pending.clear()
            try:
                pending.append(await _Resumed(step, waiting_on))
            except StopAsyncIteration:
                break
        if self._writing is not None:
            await self._writing
            self._writing = None
        if pending:
            text = "".join(pending)
            pending.clear()
            await self._send(send, text)

    def _write_now(self, send: Send, text: str) -> None:
        """Write `text` without suspending when the connection takes it (the usual case); else
        finish the write in `self._writing`, in order with heartbeats."""
        message = {"type": "http.response.body", "body": text.encode(), "more_body": True}
        if self._lock.locked():  # a heartbeat is waiting for the connection: queue behind it
            self._writing = asyncio.ensure_future(self._send(send, text))
            return
        writing: Any = send(message)
        try:
            blocked_on = writing.send(None)
        except StopIteration:
            self._last = asyncio.get_running_loop().time()
            return
        self._writing = asyncio.ensure_future(self._finish_write(writing, blocked_on))

    async def _finish_write(self, writing: Any, blocked_on: Any) -> None:
        async with self._lock:
            await _Resumed(writing, blocked_on)
        self._last = asyncio.get_running_loop().time()

    async def _watch(self, receive: Receive, pump: asyncio.Future[None]) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                self._gone = True
                pump.cancel()
                return

    async def _beat(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, self._last + self.heartbeat - loop.time()))
            if loop.time() - self._last >= self.heartbeat:
                await self._send(send, ": ping\n\n")
