"""Resumable runs on the server: streaming runs go through a `tyler.runs.RunManager`.

With `create_app(runs=...)` (`tyler serve --resumable`, or `--redis URL` / `TYLER_REDIS_URL` to
share runs between workers and hosts) a streaming request starts a run in a task of its own; the
response only *reads* the run's log. A client that goes away detaches (the run goes on and is
saved); cancelling is explicit (`POST /v1/runs/{id}/cancel`, from any worker). Endpoints:

- `GET /v1/runs/{id}`: the run's status (running / completed / failed / cancelled).
- `GET /v1/runs/{id}/events`: the run's native events (`id:` = log id, `event:`, `data:`), after
  `Last-Event-ID` (or `?after=` for clients that cannot set headers): missed events once, then the
  live tail, no gap, no duplicate; a finished run (within retention) is replayed whole. After the
  log's retention (the run's status is kept longer) the answer comes from the thread store: one
  `message_created` per message the run left, then its terminal event (`replayed_from:
  "thread_store"`), without `id:`s; Last-Event-ID is then ignored.
- `GET /api/chat/{chat_id}/stream` (AI SDK `reconnectToStream`): 204 when the chat has no run in
  progress, else its UI message stream replayed from `start`, then live.
- `POST /ag-ui` with the `threadId` and `runId` of a run the log has (AG-UI `HttpAgent` reconnecting
  with the same runId): that run's events from RUN_STARTED, or after `Last-Event-ID`, then live; no
  new run is started. AG-UI streams carry the log id as `id:` on the last event of each entry.

Every streaming response carries the run id in `x-run-id`. Native event streams (`POST
/v1/threads/{id}/runs`) use the log ids as SSE ids, so a reconnect can resume from the last one.
Errors: unknown/expired run 404, malformed id 400, an id no longer in the log 410, the backend
down 503 (and mid-stream, a terminal `execution_error` of type `RunLogUnavailableError`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..events import EventType, ExecutionEvent
from ..exceptions import EventIdError, RequestError, RunLimitError, RunLogError, RunNotFoundError
from ..runs import MemoryRunLog, RunManager
from ..runs._base import encode_event
from ._http import EventStream, error_response
from .runs import EventsEncoder, Runs

if TYPE_CHECKING:
    from ..agent import Agent
    from ..messages import Thread
    from ..storage import ThreadStore
    from ._types import Host
    from .agui import RunInput
    from .runs import Encoder, RunHandle

RUN_HEADER = "x-run-id"
THREAD_HEADER = "x-thread-id"


def run_manager(spec: RunManager | str | None, *, store: ThreadStore | None = None, max_runs: int = 100,
                retention: float = 3600.0, max_events: int = 100_000, max_queue: int = 1000,
                prefix: str = "tyler:") -> RunManager | None:
    """`create_app(runs=...)`: a RunManager, "memory" (in-process), a redis:// URL, or None (off).

    `store` (the server's thread store) is where the partial reply of a run whose worker died is
    kept; a given RunManager without a store of its own gets it too. `retention` (seconds a
    finished run's log is kept), `max_events` (per run), `max_runs` (driven by this worker) and
    `max_queue` (runs waiting for a worker, Redis) and `prefix` (Redis keys) configure what is built
    from a string.
    """
    if spec is None:
        return None
    if isinstance(spec, RunManager):
        if spec.store is None:
            spec.store = store
        return spec
    if spec == "memory":
        return RunManager(MemoryRunLog(retention=retention, max_events=max_events), max_runs=max_runs, store=store)
    if isinstance(spec, str) and spec.startswith(("redis://", "rediss://", "unix://")):
        from ..runs import RedisRunLog

        log = RedisRunLog(spec, prefix=prefix, retention=retention, max_events=max_events, max_queue=max_queue)
        return RunManager(log,
                          max_runs=max_runs,
                          store=store)
    from ..exceptions import ConfigurationError

    raise ConfigurationError(f"runs must be a RunManager, 'memory' or a redis:// URL, got {spec!r}")


def request_error(exc: RunLogError) -> RequestError:
    """A run-log failure as the HTTP error each endpoint renders in its protocol's shape."""
    if isinstance(exc, RunNotFoundError):
        return RequestError(str(exc), status=404, code="run_not_found")
    if isinstance(exc, EventIdError):
        if exc.expired:
            return RequestError(str(exc), status=410, code="event_id_expired", param="Last-Event-ID")
        return RequestError(str(exc), status=400, code="invalid_event_id", param="Last-Event-ID")
    if isinstance(exc, RunLimitError):
        return RequestError(str(exc), status=429, code="too_many_runs")
    return RequestError(f"{type(exc).__name__}: {exc}", status=503, code="run_log_unavailable")


def log_error_event(exc: RunLogError) -> tuple[str, str]:
    """(type, JSON) of the terminal native event for a log that failed mid-stream."""
    event = ExecutionEvent(EventType.EXECUTION_ERROR, datetime.now(UTC), {
        "error_type": type(exc).__name__, "message": str(exc), "exception": None,
    })
    return encode_event(event)


def _log_error_frame(exc: RunLogError) -> str:
    """A terminal native event for a log that failed mid-stream (no `id:`: resume from the last one)."""
    type_, data = log_error_event(exc)
    return f"event: {type_}\ndata: {data}\n\n"


async def native_frames(manager: RunManager, run_id: str, after: str | None) -> AsyncGenerator[str, None]:
    """The run's log as native SSE frames (the stored JSON as is, the log id as `id:`)."""
    try:
        async for entry in manager.subscribe(run_id, after):
            # Entries answered from the thread store (past the log's retention) have no id to resume from.
            head = f"id: {entry.id}\n" if entry.id else ""
            yield f"{head}event: {entry.type}\ndata: {entry.data}\n\n"
    except RunLogError as exc:
        yield _log_error_frame(exc)


def _with_id(text: str, entry_id: str) -> str:
    """`id: <entry id>` on the last SSE event of an entry's frames (a client that saw it saw them all)."""
    end = text.rfind("\n\n", 0, len(text) - 2)
    start = 0 if end < 0 else end + 2
    return f"{text[:start]}id: {entry_id}\n{text[start:]}"


async def encoded_frames(manager: RunManager, run_id: str, encoder: Encoder, *, after: str | None = None,
                         ids: bool = False) -> AsyncGenerator[str, None]:
    """The run's log through a protocol encoder (events rebuilt from the log).

    `ids`: each entry's last SSE event carries the entry's log id as `id:`. `after`: resume after
    that id; the encoder still sees the entries before it (unsent), so what follows continues the
    protocol's state (open messages, tool calls) exactly where the client stopped.
    """
    skipping = after is not None
    if not skipping:
        opening = encoder.start()
        if opening:
            yield opening
    try:
        async for entry in manager.subscribe(run_id):
            text = encoder.event(entry.event())
            if skipping and entry.id:  # entries from the thread store (no id) are all sent
                skipping = entry.id != after
                continue
            if text:
                yield _with_id(text, entry.id) if ids and entry.id else text
    except RunLogError as exc:
        failed = ExecutionEvent(EventType.EXECUTION_ERROR, datetime.now(UTC), {
            "error_type": type(exc).__name__, "message": str(exc), "exception": None,
        })
        yield encoder.event(failed)


class DetachedStream(EventStream):
    """The response of a streaming request on a resumable server: start the run, then read its log.

    Starting happens before the response head, so a full worker (429) or a backend that is down
    (503) is a plain error response in the path's shape, never a broken stream. A disconnect only
    closes the reader; the run goes on.
    """

    def __init__(self, server: Host, handle: RunHandle, agent: Agent, thread: Thread, encoder: Encoder, *,
                 headers: dict[str, str] | None = None) -> None:
        assert server.runs is not None
        super().__init__(_frames(server.runs, handle.id, encoder), heartbeat=server.heartbeat, headers={
            THREAD_HEADER: thread.id, RUN_HEADER: handle.id, **(headers or {}),
        })
        self.server = server
        self.handle = handle
        self.agent = agent
        self.thread = thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handle, server = self.handle, self.server
        try:
            await start_run(server, handle, self.agent, self.thread)
        except RunLogError as exc:
            server.registry.release(handle)
            await self.frames.aclose()
            await error_response(scope["path"], request_error(exc))(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def start_run(server: Host, handle: RunHandle, agent: Agent, thread: Thread) -> None:
    """Start `handle`'s run here, or, when this worker is full and the log is shared (Redis),
    queue it for any worker with room (the thread is saved first: that worker loads it).

    Raises `RunLimitError` when this worker is full and the queue too (or cannot queue).
    """
    assert server.runs is not None
    manager = await server.runs.get()
    if manager.dispatching and not manager.has_capacity:
        from .convert import client_tool_specs

        await server.store.save(thread)
        job = {"thread_id": thread.id, "model": handle.model, "client_tools": client_tool_specs(agent)}
        try:
            await manager.submit(job, run_id=handle.id, metadata=run_metadata(thread))
        finally:
            # The queue bounds what waits; a run another worker drives is not counted against
            # this worker's per-key limit (this worker cannot see when it ends).
            server.registry.release(handle)
        return
    await manager.start(agent.stream(thread), run_id=handle.id, metadata=run_metadata(thread),
                        on_end=lambda: server.registry.release(handle))


async def run_job(server: Host, job: dict[str, Any]) -> AsyncIterator[ExecutionEvent]:
    """The RunManager runner: a queued run (from `start_run` on any worker) started on this one."""
    from .convert import client_tool, with_client_tools

    thread = await server.store.get_thread(str(job["thread_id"]))
    _, agent = server.agent(job.get("model"))
    tools = [client_tool(t.get("name"), t.get("description"), t.get("parameters"), "tools")
             for t in job.get("client_tools") or []]
    return with_client_tools(agent, tools).stream(thread)


def run_metadata(thread: Thread) -> dict[str, str]:
    """A run's thread, and the message it starts after: after the log's retention the run's final
    messages are the stored ones that follow it (`RunManager.final_messages`)."""
    metadata = {"thread_id": thread.id}
    if thread.messages:
        metadata["after_message"] = thread.messages[-1].id
    return metadata


async def _frames(runs: Runs, run_id: str, encoder: Encoder) -> AsyncGenerator[str, None]:
    from .agui import AGUIEncoder

    manager = await runs.get()
    frames = native_frames(manager, run_id, None) if isinstance(encoder, EventsEncoder) else (
        encoded_frames(manager, run_id, encoder, ids=isinstance(encoder, AGUIEncoder)))
    async with aclosing(frames) as items:
        async for text in items:
            yield text


async def _manager(server: Host) -> RunManager:
    if server.runs is None:
        raise RequestError("this server does not keep runs: start it with --resumable or --redis",
                           status=404, code="runs_not_enabled")
    return await server.runs.get()


async def run_status(server: Host, request: Request) -> Response:
    manager = await _manager(server)
    try:
        info = await manager.status(request.path_params["run_id"])
    except RunLogError as exc:
        raise request_error(exc) from None
    return JSONResponse({"object": "run", **info.to_dict(), "thread_id": info.metadata.get("thread_id")})


async def run_events(server: Host, request: Request) -> Response | EventStream:
    manager = await _manager(server)
    run_id = request.path_params["run_id"]
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    try:
        await manager.check_resume(run_id, after)
    except RunLogError as exc:
        raise request_error(exc) from None
    return EventStream(native_frames(manager, run_id, after), heartbeat=server.heartbeat,
                       headers={RUN_HEADER: run_id})


async def cancel_run(server: Host, request: Request) -> Response:
    """Cancel a run wherever it runs (this worker or another one sharing the log)."""
    manager = await _manager(server)
    run_id = request.path_params["run_id"]
    try:
        delivered = await manager.cancel(run_id)
        info = await manager.status(run_id)
    except RunLogError as exc:
        raise request_error(exc) from None
    if not delivered and info.status.value != "running":
        raise RequestError(f"run {run_id!r} is already {info.status.value}", status=409, code="run_not_running")
    return JSONResponse({"id": run_id, "thread_id": info.metadata.get("thread_id"), "status": "cancelling"})


async def ai_sdk_resume(server: Host, request: Request) -> Response | EventStream:
    """`GET /api/chat/{chat_id}/stream` (AI SDK `reconnectToStream`): 204 when the chat has no run in
    progress, else that run's UI message stream from its `start`."""
    from . import vercel

    manager = await _manager(server)
    chat_id = request.path_params["chat_id"]
    try:
        run_id = await manager.active_run(chat_id)
    except RunLogError as exc:
        raise request_error(exc) from None
    if run_id is None:
        return Response(status_code=204)
    return EventStream(encoded_frames(manager, run_id, vercel.VercelEncoder()), heartbeat=server.heartbeat,
                       headers={**vercel.HEADERS, THREAD_HEADER: chat_id, RUN_HEADER: run_id})


def agui_run_id(thread_id: str, client_run_id: str) -> str:
    """The run-log id of an AG-UI run: from its threadId and runId (the client picks both, so a
    reconnect names the same run; hashed, so any ids fit and one thread's run-1 is not another's)."""
    digest = hashlib.sha256(f"{thread_id}\0{client_run_id}".encode()).hexdigest()[:40]
    return f"agui-{digest}"


async def ag_ui_resume(server: Host, request: Request, run: RunInput) -> EventStream | None:
    """`POST /ag-ui` naming a run (threadId + runId) the log already has: that run's AG-UI events
    from RUN_STARTED, or after `Last-Event-ID` (each entry's last event carries an `id:`), then
    live; None when the run is new (it is then started)."""
    from .agui import AGUIEncoder

    manager = await _manager(server)
    run_id = agui_run_id(run.thread_id, run.run_id)
    after = request.headers.get("last-event-id") or None
    try:
        info = await manager.check_resume(run_id, after)
    except RunNotFoundError:
        if after is None:
            return None
        raise RequestError(f"no run {run.run_id!r} on thread {run.thread_id!r} to resume", status=404,
                           code="run_not_found") from None
    except RunLogError as exc:
        raise request_error(exc) from None
    snapshot, state = await _agui_opening(server, run.thread_id, info.metadata.get("after_message"))
    encoder = AGUIEncoder(run.thread_id, run.run_id, frozenset(t.name for t in run.tools), snapshot=snapshot,
                          state=state)
    return EventStream(encoded_frames(manager, run_id, encoder, after=after, ids=True), heartbeat=server.heartbeat,
                       headers={THREAD_HEADER: run.thread_id, RUN_HEADER: run_id})


async def _agui_opening(server: Host, thread_id: str, anchor: str | None) -> tuple[list[dict[str, Any]] | None, Any]:
    """The MESSAGES_SNAPSHOT and STATE_SNAPSHOT the run opened with: the stored conversation up to
    the message the run started after (what the run has added since comes as its events)."""
    from .agui import STATE_KEY, snapshot_messages

    thread = await server.store.get(thread_id)
    if thread is None:
        return None, None
    ids = [m.id for m in thread.messages]
    upto = ids.index(anchor) + 1 if anchor in ids else len(ids)
    view = thread.model_copy(update={"messages": thread.messages[:upto]})
    return snapshot_messages(view), thread.attributes.get(STATE_KEY)


def routes(server: Host, endpoint: Any) -> list[Route]:
    return [
        Route("/v1/runs/{run_id}", endpoint(server, run_status), methods=["GET"]),
        Route("/v1/runs/{run_id}/events", endpoint(server, run_events), methods=["GET"]),
    ]
