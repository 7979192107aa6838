"""`FakeModelServer`: a scripted OpenAI + Anthropic model endpoint on 127.0.0.1, over real HTTP.

It speaks the real wire formats (Chat Completions SSE at `/v1/chat/completions`, Messages SSE at
`/v1/messages`), answers scripted `Turn`s in FIFO order (or a responder function, or a default
deterministic reply), and records every request, including whether the client disconnected before
the response was complete.

It runs on its own event loop in a background thread (`start()`/`stop()`, `with`, `async with`),
so code under test may call `asyncio.run` itself, or in the current loop as a standalone process
(`python -m tyler.testing`). Control endpoints under `/_fake/` let another process script it
(see `RemoteFakeServer`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..exceptions import ConfigurationError
from . import wire
from ._connection import TASK_PREFIX, HTTPConnection, HTTPRequest
from ._endpoints import FakeEndpoints
from ._pacer import Pacer
from .turns import RecordedRequest, Turn

log = logging.getLogger("tyler.testing")

API_PATHS = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
    "/messages": "anthropic",
}

DEFAULT_REPLY = "This is a reply from the fake model."

Responder = Callable[[RecordedRequest], "Turn | None"]

_JSON = ("content-type", "application/json")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def last_user_text(body: Any) -> str | None:
    """The text of the last user message of an OpenAI or Anthropic request body, if any."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            joined = " ".join(t for t in texts if isinstance(t, str))
            if joined:
                return joined
        return None
    return None


def default_turn_for(request: RecordedRequest) -> Turn:
    """The unscripted answer: a fixed sentence quoting (the start of) the last user message."""
    said = last_user_text(request.body)
    if not said:
        return Turn(text=DEFAULT_REPLY)
    said = " ".join(said.split())
    if len(said) > 80:
        said = said[:77] + "..."
    return Turn(text=f'{DEFAULT_REPLY} You said: "{said}"')


def _validation_error(api: str, body: Any) -> str | None:
    """What a real provider would reject with a 400 (only the checks that catch client bugs)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: field required"
    if not isinstance(body.get("messages"), list):
        return "messages: field required (a list)"
    if api == "anthropic" and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: field required"
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    problem = _anthropic_choice(body) if api == "anthropic" else _openai_choice(body)
    if problem:
        return problem
    return _anthropic_unanswered(messages) if api == "anthropic" else _openai_unanswered(messages)


def _tool_names(body: dict[str, Any], api: str) -> set[Any]:
    tools = body["tools"] if isinstance(body.get("tools"), list) else []
    if api == "anthropic":
        return {t.get("name") for t in tools if isinstance(t, dict)}
    return {(t.get("function") or {}).get("name") for t in tools if isinstance(t, dict)}


def _openai_choice(body: dict[str, Any]) -> str | None:
    """OpenAI's 400s for tool_choice and response_format."""
    choice = body.get("tool_choice")
    if choice is not None:
        if not body.get("tools"):
            return "tool_choice is only allowed when tools are specified"
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if name not in _tool_names(body, "openai"):
                return f"tool_choice names function {name!r}, which is not in tools"
        elif choice not in ("auto", "none", "required"):
            return f"tool_choice: invalid value {choice!r}"
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        return f"response_format: invalid value {fmt!r}"
    if fmt["type"] != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        return "response_format.json_schema.name: field required"
    if not isinstance(spec.get("schema"), dict):
        return "response_format.json_schema.schema: must be an object"
    return _strict_problem(spec["schema"]) if spec.get("strict") else None


def _strict_problem(schema: Any, where: str = "()") -> str | None:
    """What strict structured outputs refuse: an object not closed, a property not required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            if schema.get("additionalProperties") is not False:
                return (f"Invalid schema: In context={where}, 'additionalProperties' is required to be "
                        "supplied and to be false")
            missing = set(schema.get("properties", {})) - set(schema.get("required", []))
            if missing:
                return (f"Invalid schema: In context={where}, 'required' is required to include every "
                        f"property; missing {sorted(missing)}")
        for key, value in schema.items():
            problem = _strict_problem(value, f"{where}.{key}")
            if problem:
                return problem
    elif isinstance(schema, list):
        for value in schema:
            problem = _strict_problem(value, where)
            if problem:
                return problem
    return None


def _anthropic_choice(body: dict[str, Any]) -> str | None:
    """Anthropic's 400s for tool_choice."""
    choice = body.get("tool_choice")
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        return f"tool_choice: invalid value {choice!r}"
    if kind == "tool" and choice.get("name") not in _tool_names(body, "anthropic"):
        return f"tool_choice names tool {choice.get('name')!r}, which is not in tools"
    thinking = body.get("thinking")
    if kind in ("any", "tool") and isinstance(thinking, dict) and thinking.get("type") == "enabled":
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _openai_unanswered(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's 400 for tool calls not answered by the tool messages right after them."""
    owed: set[Any] = set()
    for m in messages:
        if m.get("role") == "tool":
            if m.get("tool_call_id") not in owed:
                return f"messages: tool message {m.get('tool_call_id')!r} answers no preceding tool call"
            owed.discard(m.get("tool_call_id"))
            continue
        if owed:
            break
        if m.get("role") == "assistant":
            owed = {c.get("id") for c in m.get("tool_calls") or [] if isinstance(c, dict)}
    if owed:
        return (
            "messages: an assistant message with 'tool_calls' must be followed by tool messages "
            f"responding to each 'tool_call_id'; missing: {sorted(map(str, owed))}"
        )
    return None


def _blocks(message: dict[str, Any] | None, kind: str, key: str) -> set[Any]:
    content = message.get("content") if message else None
    if not isinstance(content, list):
        return set()
    return {b.get(key) for b in content if isinstance(b, dict) and b.get("type") == kind}


def _anthropic_unanswered(messages: list[dict[str, Any]]) -> str | None:
    """Anthropic's 400 for tool_use blocks without tool_result blocks in the next message."""
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        uses = _blocks(m, "tool_use", "id")
        after = messages[i + 1] if i + 1 < len(messages) else None
        missing = uses - _blocks(after, "tool_result", "tool_use_id")
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {sorted(map(str, missing))}"
            )
    return None


def build_reply(record: RecordedRequest, turn: Turn, n: int) -> bytes | wire.StreamPlan:
    """The JSON body (non-streamed request) or the SSE events (streamed) answering `record` with `turn`."""
    body: dict[str, Any] = record.body
    model = body["model"]
    usage = wire.compute_usage(turn, wire.prompt_tokens(body))
    anthropic = record.api == "anthropic"
    tool_ids = [
        call.id or (f"toolu_fake{n:06d}_{i}" if anthropic else f"call_fake{n:06d}_{i}")
        for i, call in enumerate(turn.tool_calls)
    ]
    created = int(time.time())
    if anthropic:
        build = wire.anthropic_stream if record.stream else wire.anthropic_message
        return build(turn, model=model, message_id=f"msg_fake{n:06d}", usage=usage, tool_ids=tool_ids)
    completion_id = f"chatcmpl-fake{n:06d}"
    if not record.stream:
        return wire.openai_completion(
            turn, model=model, completion_id=completion_id, created=created, usage=usage, tool_ids=tool_ids
        )
    options = body.get("stream_options")
    return wire.openai_stream(
        turn,
        model=model,
        completion_id=completion_id,
        created=created,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        usage=usage,
        tool_ids=tool_ids,
    )


class FakeModelServer(FakeEndpoints):
    """A fake OpenAI/Anthropic model server for tests and benchmarks.

    `api_key`: if set, requests without it (Bearer / x-api-key) get a 401 in the API's shape.
    `max_recorded`: keep only the last N recorded requests (long benchmark runs).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        max_recorded: int | None = None,
        default_turn: Turn | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Turn] = deque()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._responder: Responder | None = None
        self._default_turn = default_turn
        self._counter = 0
        self._connections: set[HTTPConnection] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacer: Pacer | None = None
        self._thread: threading.Thread | None = None

    # -- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake model server is not started")
        return f"http://{self.host}:{self.port}"

    # -- scripting --------------------------------------------------------------------------

    def enqueue(self, *turns: Turn | dict[str, Any], repeat: int = 1) -> None:
        """Append turns to the FIFO of scripted replies (`repeat` times the whole sequence)."""
        parsed = [Turn.from_dict(t) for t in turns]
        with self._lock:
            for _ in range(repeat):
                self._queue.extend(parsed)

    def set_responder(self, responder: Responder | None) -> None:
        """Answer requests with `responder(request)` when the queue is empty (None: default reply)."""
        with self._lock:
            self._responder = responder

    def set_default_turn(self, turn: Turn | dict[str, Any] | None) -> None:
        """The reply used when the queue is empty and no responder answers (None: quote the user)."""
        with self._lock:
            self._default_turn = None if turn is None else Turn.from_dict(turn)

    @property
    def pending(self) -> int:
        """How many scripted turns are still queued."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued turns, the responder, the default turn and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._responder = None
            self._default_turn = None
            self._changed.notify_all()

    # -- observation ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The recorded model requests, oldest first (each is updated while its response runs)."""
        with self._lock:
            return list(self._requests)

    def _get(self, index: int) -> RecordedRequest | None:
        try:
            return self._requests[index]
        except IndexError:
            return None

    def wait_for_request_finished(self, index: int = -1, timeout: float = 5.0) -> RecordedRequest | None:
        """Wait until request `index` exists and its response ended (completed, aborted or dropped)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                request = self._get(index)
                if request is not None and request.done:
                    return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def wait_for_disconnect(self, index: int = -1, timeout: float = 5.0) -> bool:
        """True once request `index` is known to have been dropped early by the client."""
        request = self.wait_for_request_finished(index, timeout)
        return bool(request and request.disconnected_early)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` requests were recorded."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    async def await_request_finished(self, index: int = -1, timeout: float = 5.0) -> RecordedRequest | None:  # noqa: ASYNC109
        """Async `wait_for_request_finished` (polls, so it never blocks the caller's loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                request = self._get(index)
            if request is not None and request.done:
                return request
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.005)

    async def await_disconnect(self, index: int = -1, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Async `wait_for_disconnect`."""
        request = await self.await_request_finished(index, timeout)
        return bool(request and request.disconnected_early)

    wait_for_disconnect_async = await_disconnect

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._changed.notify_all()

    def _finish(
        self,
        request: RecordedRequest,
        *,
        completed: bool = False,
        early: bool = False,
        error: str | None = None,
    ) -> None:
        with self._lock:
            if request.finished is not None:
                return
            request.completed = completed
            request.disconnected_early = early
            if error is not None:
                request.error = error
            request.finished = time.time()
            self._changed.notify_all()

    def _next_turn(self, request: RecordedRequest) -> Turn:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder, default = self._responder, self._default_turn
        if responder is not None:
            turn = responder(request)
            if turn is not None:
                return Turn.from_dict(turn)
        return default if default is not None else default_turn_for(request)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # -- lifecycle --------------------------------------------------------------------------

    async def start_async_in_loop(self) -> None:
        """Start serving on the running loop (used by the standalone process)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._pacer = Pacer(loop)
        self._server = await loop.create_server(
            lambda: HTTPConnection(self._handle, self._connections), self.host, self.port, backlog=4096
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close_async_in_loop(self) -> None:
        """Stop serving and drop every open connection (stalled streams included)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close(abort=True)
        # Connection handlers still running (stalled streams...) are cancelled and awaited, so
        # that no task is left pending when the loop closes.
        current = asyncio.current_task()
        handlers = [t for t in asyncio.all_tasks() if t is not current and t.get_name().startswith(TASK_PREFIX)]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def start(self) -> FakeModelServer:
        """Serve in a background thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("the fake model server is already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start_async_in_loop())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close_async_in_loop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-model-server-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._server = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the background server (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if thread.is_alive():
            log.warning("fake model server thread did not stop within 10 s")
        self._thread = None
        self._server = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeModelServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- request handling -------------------------------------------------------------------

    async def _handle(self, conn: HTTPConnection, req: HTTPRequest) -> None:
        if req.path.startswith("/_fake/"):
            await self._control(conn, req)
            return
        api = API_PATHS.get(req.path)
        if api is None:
            if req.method == "GET" and req.path in ("/v1/models", "/models"):
                conn.send_response(200, [_JSON], _json_bytes({"object": "list", "data": []}))
            else:
                conn.send_response(404, [_JSON], wire.openai_error_body(404, f"no route {req.path}"))
            return
        if req.method != "POST":
            conn.send_response(405, [_JSON], self._error_body(api, 405, "use POST", None))
            return
        try:
            body: Any = json.loads(req.body) if req.body else None
        except ValueError:
            body = None  # answered with a 400 below, like a real provider
        record = RecordedRequest(
            method=req.method,
            path=req.path,
            headers=req.headers,
            body=body,
            api=api,
            started=time.time(),
            stream=isinstance(body, dict) and body.get("stream") is True,
        )
        self._record(record)
        conn.on_client_gone = lambda: self._finish(record, early=True)
        problem = self._check(api, req, body)
        if problem is not None:
            status, message = problem
            self._send_error(conn, record, status, message)
            return
        try:
            turn = self._next_turn(record)
        except Exception as exc:
            log.exception("fake model server: responder failed")
            self._send_error(conn, record, 500, f"responder failed: {exc!r}")
            return
        await self._respond(conn, record, turn)

    def _check(self, api: str, req: HTTPRequest, body: Any) -> tuple[int, str] | None:
        if self.api_key is not None:
            given = req.headers.get("x-api-key") or req.headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.api_key:
                return 401, "invalid or missing API key"
        problem = _validation_error(api, body)
        return None if problem is None else (400, problem)

    @staticmethod
    def _error_body(api: str, status: int, message: str | None, error_type: str | None) -> bytes:
        if api == "anthropic":
            return wire.anthropic_error_body(status, message, error_type)
        return wire.openai_error_body(status, message, error_type)

    def _send_error(
        self,
        conn: HTTPConnection,
        record: RecordedRequest,
        status: int,
        message: str | None,
        *,
        error_type: str | None = None,
        turn: Turn | None = None,
    ) -> None:
        headers = [_JSON]
        if turn is not None and turn.retry_after is not None:
            headers.append(("retry-after", str(turn.retry_after)))
        if turn is not None and turn.headers:
            headers.extend(turn.headers.items())
        record.status = status
        record.first_byte_at = time.time()
        # Recorded before the last byte goes out: a client that has read the response sees it done.
        self._finish(record, completed=True, error=message or wire.default_error_message(status))
        conn.send_response(status, headers, self._error_body(record.api, status, message, error_type))

    async def _respond(self, conn: HTTPConnection, record: RecordedRequest, turn: Turn) -> None:
        if turn.first_byte_delay:
            await asyncio.sleep(turn.first_byte_delay)
        if turn.status is not None:
            self._send_error(conn, record, turn.status, turn.error_message, error_type=turn.error_type, turn=turn)
            return
        n = self._next_id()
        reply = build_reply(record, turn, n)
        headers = [("request-id" if record.api == "anthropic" else "x-request-id", f"req_fake{n:06d}")]
        headers.extend(turn.headers.items() if turn.headers else ())
        record.status = 200
        record.first_byte_at = time.time()
        if turn.record_send_times:
            record.sent_at = []
        if isinstance(reply, bytes):
            record.chunks_sent = 1
            self._finish(record, completed=True)
            conn.send_response(200, [_JSON, *headers], reply)
            return
        conn.send_head(
            200, [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), *headers]
        )
        await self._stream(conn, record, turn, reply)

    async def _stream(self, conn: HTTPConnection, record: RecordedRequest, turn: Turn, plan: wire.StreamPlan) -> None:
        events = plan.events
        if turn.error_event is not None:
            at = plan.content_end if turn.error_event_at is None else turn.error_event_at
            events = [*events[:at], plan.error_event(turn.error_event, turn.error_message)]
        if turn.malformed_at is not None:
            at = turn.malformed_at
            events = [*events[:at], plan.malformed, *events[at:]]
        # Past the end, an abort/stall happens before the terminating chunk of the body.
        abort = None if turn.abort_after is None else min(turn.abort_after, len(events))
        stall = None if turn.stall_after is None else min(turn.stall_after, len(events))
        position = 0
        for stop in sorted({p for p in (abort, stall, len(events)) if p is not None}):
            await self._send_events(conn, record, events, start=position, stop=stop, delay=turn.delay)
            position = stop
            if stop == stall:
                await self._stall(conn, turn, plan)
            if stop == abort:
                self._finish(record, error=f"aborted by script after {stop} events")
                conn.close()
                return
        self._finish(record, completed=True)
        conn.end_body()

    async def _send_events(
        self,
        conn: HTTPConnection,
        record: RecordedRequest,
        events: list[bytes],
        *,
        start: int,
        stop: int,
        delay: float,
    ) -> None:
        if start >= stop:
            return
        if not delay:
            # No pacing: one write for the whole run of events.
            record.chunks_sent += stop - start
            conn.write_raw(b"".join([conn.frame(e) for e in events[start:stop]]))
            if record.sent_at is not None:
                record.sent_at.extend([time.time()] * (stop - start))
            await conn.drain()
            return
        assert self._pacer is not None
        await self._pacer.run(conn, record, events, start=start, stop=stop, delay=delay)

    async def _stall(self, conn: HTTPConnection, turn: Turn, plan: wire.StreamPlan) -> None:
        """Send nothing (but optional keepalives) for `stall_seconds`, or until the client leaves."""
        loop = asyncio.get_running_loop()
        deadline = None if turn.stall_seconds is None else loop.time() + turn.stall_seconds
        interval = turn.keepalive_interval
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            if interval is None:
                if remaining is None:
                    await loop.create_future()  # until connection_lost or stop() cancels us
                await asyncio.sleep(remaining or 0)
                return
            await asyncio.sleep(interval if remaining is None else min(interval, remaining))
            if deadline is None or loop.time() < deadline:
                conn.send_chunk(plan.keepalive)

    # -- control endpoints ------------------------------------------------------------------

    async def _control(self, conn: HTTPConnection, req: HTTPRequest) -> None:
        try:
            payload = json.loads(req.body) if req.body else None
            result = self._control_action(req.method, req.path, payload)
        except (ValueError, ConfigurationError) as exc:  # bad JSON or bad turn: tell the caller
            conn.send_response(400, [_JSON], _json_bytes({"error": str(exc)}))
            return
        if result is None:
            conn.send_response(404, [_JSON], _json_bytes({"error": f"no control endpoint {req.method} {req.path}"}))
            return
        conn.send_response(200, [_JSON], _json_bytes(result))

    def _control_action(self, method: str, path: str, payload: Any) -> Any:
        if method == "GET" and path == "/_fake/requests":
            return [r.to_dict() for r in self.requests]
        if method == "GET" and path == "/_fake/health":
            return {"ok": True, "pending": self.pending}
        if method != "POST":
            return None
        if path == "/_fake/enqueue":
            repeat = 1
            if isinstance(payload, dict):
                repeat = int(payload.get("repeat", 1))
                payload = payload.get("turns")
            if not isinstance(payload, list):
                raise ConfigurationError("POST /_fake/enqueue expects a JSON list of turns")
            self.enqueue(*payload, repeat=repeat)
            return {"pending": self.pending}
        if path == "/_fake/default":
            self.set_default_turn(payload)
            return {"ok": True}
        if path == "/_fake/reset":
            self.reset()
            return {"ok": True}
        return None
