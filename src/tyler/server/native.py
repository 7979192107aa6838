"""Native endpoints: runs streaming `ExecutionEvent`s (SSE and WebSocket) and the thread store.

- `POST /v1/threads/{id}/runs` `{"input": "<text>"}` or `{"message": {...}}` (+ optional `"model"`):
  SSE with `id:` (1, 2, ... per run), `event:` (the event type) and `data:` (the event as
  `tyler run --json` prints it). An unknown thread id starts that thread. A cancelled run ends with
  an `execution_error` of type `RunCancelledError`, so every stream has one terminal event.
- `GET /v1/threads`, `GET /v1/threads/{id}`, `DELETE /v1/threads/{id}`.
- WebSocket `/v1/ws[?thread_id=...]`: send `{"content": "<text>"}` (or `"input"`, + optional
  `"model"`) to start a run, `{"type": "cancel"}` to stop it; every event arrives as the same JSON
  object as the SSE `data:`; bad messages get `{"type": "error", "error": {...}}`. On a resumable
  server each event object also has `"id"` (its run-log id) and `"run_id"`, closing the socket
  only detaches (the run goes on), and `{"type": "resume", "run_id": "...", "after": "<last id>"}`
  on any socket, to any worker, sends the events after that id once, then the live tail
  (`after` left out: the whole run); `cancel` then stops that run wherever it runs.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..events import ExecutionEvent
from ..exceptions import RequestError, RunLogError, TylerError
from ..messages import Message, Thread
from ._http import EventStream, dumps, plain_error_body
from .convert import chat_message
from .resume import log_error_event, request_error, start_run
from .runs import (
    EventsEncoder,
    RunHandle,
    append_turn,
    cancelled_event,
    drive,
    load_thread,
    stored_or_new,
    thread_id_param,
)

if TYPE_CHECKING:
    from ._types import Host

_THREAD_LIST_LIMIT = 1000


class WebSocketEncoder:
    """Events → one JSON text message each (the same object as the SSE `data:`)."""

    def start(self) -> str:
        return ""

    def event(self, event: ExecutionEvent) -> str:
        return dumps(event.to_dict())

    def cancelled(self) -> str:
        return self.event(cancelled_event())


def user_message(body: dict[str, Any]) -> Message:
    """`{"input": "text"}` or `{"message": {role, content}}` → the user Message to run on."""
    if "message" in body:
        message = chat_message(body["message"], "message")
        if message.role != "user":
            raise RequestError("'message.role' must be 'user'", param="message.role")
        return message
    text = body.get("input", body.get("content"))
    if not isinstance(text, str) or not text.strip():
        raise RequestError("send {'input': '<user text>'} or {'message': {...}}", param="input")
    return Message(role="user", content=text)


async def thread_for_run(server: Host, thread_id: str | None, message: Message) -> Thread:
    thread = await stored_or_new(server.store, thread_id)
    if thread.title is None and not thread.messages:  # a name for conversation lists (the web page's)
        thread.title = " ".join(message.text.split())[:80] or None
    append_turn(thread, [message])
    return thread


def _check_id(thread_id: str) -> str:
    return thread_id_param(thread_id, "thread_id")


async def create_run(server: Host, request: Request) -> Response | EventStream:
    thread_id = _check_id(request.path_params["thread_id"])
    body = await server.body(request)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("'model' must be a string", param="model", code="invalid_type")
    model_id, agent = server.agent(model)
    thread = await thread_for_run(server, thread_id, user_message(body))
    handle = server.open_run(request, thread.id, model=model_id)
    return server.stream(handle, agent, thread, EventsEncoder())


def _summary(thread: Thread) -> dict[str, Any]:
    return {"id": thread.id, "object": "thread", "title": thread.title, "created_at": thread.created_at.isoformat(),
            "updated_at": thread.updated_at.isoformat(), "message_count": len(thread.messages),
            "attributes": thread.attributes}


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise RequestError(f"'{name}' must be an integer between 0 and {high}", param=name)
    return int(raw)


async def list_threads(server: Host, request: Request) -> Response:
    limit = _int_param(request, "limit", 100, _THREAD_LIST_LIMIT)
    offset = _int_param(request, "offset", 0, 10**9)
    threads = await server.store.list_threads(limit=limit, offset=offset)
    return JSONResponse({"object": "list", "data": [_summary(t) for t in threads]})


async def get_thread(server: Host, request: Request) -> Response:
    thread = await load_thread(server.store, _check_id(request.path_params["thread_id"]))
    return JSONResponse({**_summary(thread), "messages": [m.model_dump(mode="json") for m in thread.messages]})


async def delete_thread(server: Host, request: Request) -> Response:
    thread_id = _check_id(request.path_params["thread_id"])
    if not await server.store.delete(thread_id):
        raise RequestError(f"no thread with id {thread_id!r}", status=404, code="thread_not_found")
    return JSONResponse({"id": thread_id, "object": "thread", "deleted": True})


def routes(server: Host, endpoint: Any) -> list[Route]:
    return [
        Route("/v1/threads", endpoint(server, list_threads), methods=["GET"]),
        Route("/v1/threads/{thread_id}", endpoint(server, get_thread), methods=["GET"]),
        Route("/v1/threads/{thread_id}", endpoint(server, delete_thread), methods=["DELETE"]),
        Route("/v1/threads/{thread_id}/runs", endpoint(server, create_run), methods=["POST"]),
    ]


def websocket_endpoint(server: Host) -> Any:
    async def endpoint(websocket: WebSocket) -> None:
        await _WebSocketSession(server, websocket).serve()

    return endpoint


class _WebSocketSession:
    """One WebSocket: runs one after another on one thread; `{"type": "cancel"}` stops the current one."""

    def __init__(self, server: Host, websocket: WebSocket) -> None:
        self.server = server
        self.ws = websocket
        self.thread_id: str | None = websocket.query_params.get("thread_id") or None
        self.handle: RunHandle | None = None
        self.run_id: str | None = None  # the run this socket follows (resumable servers)
        self.task: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        await self.ws.accept()
        try:
            while True:
                await self._on_message(await self.ws.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            if self.task is not None:
                # The client left: stop the run (its partial answer is kept); on a resumable server
                # this only stops the socket's reader, the run goes on.
                self.task.cancel()
                with suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await self.task

    async def _error(self, error: RequestError) -> None:
        await self.ws.send_text(dumps({"type": "error", **plain_error_body(error)}))

    async def _on_message(self, text: str) -> None:
        try:
            body = json.loads(text)
        except ValueError:
            await self._error(RequestError("message is not valid JSON", code="invalid_json"))
            return
        if not isinstance(body, dict):
            await self._error(RequestError("message must be a JSON object", code="invalid_type"))
            return
        busy = self.task is not None and not self.task.done()
        if body.get("type") == "cancel":
            if busy:
                await self._cancel()
            return
        if busy:
            await self._error(RequestError("a run is in progress: wait for it or send {'type': 'cancel'}",
                                           status=409, code="run_in_progress"))
            return
        if body.get("type") == "resume":
            await self._resume(body)
            return
        try:
            model = body.get("model")
            model_id, agent = self.server.agent(model if isinstance(model, str) else None)
            thread = await thread_for_run(self.server, self.thread_id, user_message(body))
            key = self.ws.scope.get("state", {}).get("api_key", "")
            handle = self.server.registry.open(key, thread.id, model=model_id)
        except RequestError as exc:
            await self._error(exc)
            return
        except TylerError as exc:
            await self._error(RequestError(f"{type(exc).__name__}: {exc}", status=503, code="unavailable"))
            return
        self.thread_id = thread.id
        self.handle = handle
        if self.server.runs is not None:  # resumable: the run lives in the RunManager, the socket follows it
            await self._start_detached(handle, agent, thread)
            return
        self.task = asyncio.ensure_future(self._run(handle, agent, thread))

    async def _cancel(self) -> None:
        if self.run_id is not None and self.server.runs is not None:
            try:
                await (await self.server.runs.get()).cancel(self.run_id)  # reaches the worker running it
            except RunLogError as exc:
                await self._error(request_error(exc))
        elif self.handle is not None:
            self.handle.cancel()

    async def _start_detached(self, handle: RunHandle, agent: Any, thread: Thread) -> None:
        try:
            await start_run(self.server, handle, agent, thread)
        except RunLogError as exc:
            self.server.registry.release(handle)
            await self._error(request_error(exc))
            return
        self.run_id = handle.id
        self.task = asyncio.ensure_future(self._follow(handle.id, None))

    async def _resume(self, body: dict[str, Any]) -> None:
        run_id, after = body.get("run_id"), body.get("after")
        try:
            if self.server.runs is None:
                raise RequestError("this server does not keep runs: start it with --resumable or --redis",
                                   status=404, code="runs_not_enabled")
            if not isinstance(run_id, str) or (after is not None and not isinstance(after, str)):
                raise RequestError("send {'type': 'resume', 'run_id': '<id>', 'after': '<last event id>'}",
                                   param="run_id")
            try:
                info = await (await self.server.runs.get()).check_resume(run_id, after)
            except RunLogError as exc:
                raise request_error(exc) from None
        except RequestError as exc:
            await self._error(exc)
            return
        self.thread_id = info.metadata.get("thread_id", self.thread_id)
        self.run_id = run_id
        self.task = asyncio.ensure_future(self._follow(run_id, after))

    async def _follow(self, run_id: str, after: str | None) -> None:
        """Send the run's log entries, each event object with its `id` and `run_id`."""
        assert self.server.runs is not None
        manager = await self.server.runs.get()
        prefix = f'{{"run_id":{dumps(run_id)},'
        try:
            async for entry in manager.subscribe(run_id, after):
                # The stored JSON object, opened up to put the ids first (no re-encoding per event).
                head = f'{prefix}"id":{dumps(entry.id)},' if entry.id else prefix
                await self.ws.send_text(head + entry.data[1:])
        except RunLogError as exc:
            await self.ws.send_text(log_error_event(exc)[1])
        except WebSocketDisconnect:
            pass  # the client left: only this reader stops, the run goes on

    async def _run(self, handle: RunHandle, agent: Any, thread: Thread) -> None:
        try:
            await drive(handle, agent, thread, WebSocketEncoder(), self.ws.send_text)
        except WebSocketDisconnect:
            pass  # the client left mid-run: the run is closed and its partial answer saved
        finally:
            self.server.registry.release(handle)
