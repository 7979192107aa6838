"""`create_app`: the ASGI application that serves agents over HTTP.

Built on Starlette rather than FastAPI: every endpoint speaks a wire format fixed by someone
else's client (OpenAI, AI SDK, AG-UI), validated by hand into each protocol's own error shape,
so FastAPI's request models and OpenAPI layer would be bypassed anyway; Starlette gives routing,
middleware (CORS) and WebSockets with nothing in the way of the streaming hot path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from ..agent import Agent
from ..exceptions import ConfigurationError, RequestError, TylerError
from ..messages import Message, Thread
from ._http import (
    DEFAULT_MAX_BODY,
    BearerAuth,
    EventStream,
    error_response,
    expect_object,
    openai_error_body,
    read_json,
)
from .chat_completions import ChatCompletionsEncoder, new_messages_for, parse_request
from .convert import with_client_tools
from .resume import DetachedStream, run_manager
from .runs import (
    Encoder,
    RunHandle,
    RunRegistry,
    Runs,
    append_turn,
    drive,
    frames,
    load_thread,
    regenerated_at,
    replace_tail,
    stored_or_new,
    thread_id_param,
)

if TYPE_CHECKING:
    from ..runs import RunManager
    from ..storage import ThreadStore

THREAD_HEADER = "x-thread-id"
RUN_HEADER = "x-run-id"


@dataclass
class Server:
    """What every endpoint needs: the agents by model id, the store, live runs, settings."""

    agents: dict[str, Agent]
    store: ThreadStore
    heartbeat: float = 15.0
    max_body: int = DEFAULT_MAX_BODY
    tool_activity: bool = False
    reasoning_alias: bool = False
    registry: RunRegistry = field(default_factory=RunRegistry)
    runs: Runs | None = None  # resumable runs (tyler.server.resume); None: a run lives with its request
    created: int = field(default_factory=lambda: int(time.time()))

    def agent(self, model: str | None, param: str = "model") -> tuple[str, Agent]:
        if model is None:
            model = next(iter(self.agents))
        agent = self.agents.get(model)
        if agent is None:
            raise RequestError(
                f"unknown model {model!r}; available: {', '.join(self.agents)}", status=404,
                code="model_not_found", param=param,
            )
        return model, agent

    async def body(self, request: Request) -> dict[str, Any]:
        return expect_object(await read_json(request, self.max_body))

    def open_run(self, request: Request, thread_id: str, run_id: str | None = None, *,
                 model: str | None = None) -> RunHandle:
        key = request.scope.get("state", {}).get("api_key", "")
        return self.registry.open(key, thread_id, run_id, model)

    async def replace(self, handle: RunHandle, thread: Thread, start: int | None, reason: str) -> None:
        """Cut a regenerated or edited turn (`runs.replace_tail`) once the run's slot is taken, so a
        429 replaces nothing; the slot is given back if the cut fails."""
        if start is None:
            return
        try:
            await replace_tail(self.store, thread, start, reason)
        except BaseException:
            self.registry.release(handle)
            raise

    def stream(self, handle: RunHandle, agent: Agent, thread: Thread, encoder: Encoder,
               headers: dict[str, str] | None = None) -> EventStream:
        """The SSE response of one run; the run's slot is released when the response ends."""
        if self.runs is not None:  # resumable: the run goes on without the response
            return DetachedStream(self, handle, agent, thread, encoder, headers=headers)

        def register(task: asyncio.Task[Any]) -> None:
            handle.task = task

        return EventStream(
            frames(agent, thread, encoder), heartbeat=self.heartbeat,
            headers={THREAD_HEADER: thread.id, RUN_HEADER: handle.id, **(headers or {})},
            cancelled=lambda: handle.cancel_requested, tail=encoder.cancelled,
            on_close=lambda: self.registry.release(handle), register=register,
        )

    async def collect(self, request: Request, handle: RunHandle, agent: Agent, thread: Thread,
                      encoder: Encoder) -> None:
        """Drive a run to its end for a non-streaming reply. A disconnect or an explicit cancel
        stops it (the partial answer is kept on the thread)."""
        watcher = asyncio.ensure_future(_cancel_on_disconnect(request, handle))
        try:
            await drive(handle, agent, thread, encoder)
        finally:
            watcher.cancel()
            self.registry.release(handle)


async def _cancel_on_disconnect(request: Request, handle: RunHandle) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            handle.cancel()
            return


def _agents_by_id(agents: Agent | Iterable[Agent] | Mapping[str, Agent]) -> dict[str, Agent]:
    if isinstance(agents, Agent):
        agents = [agents]
    pairs = list(agents.items()) if isinstance(agents, Mapping) else [(a.name, a) for a in agents]
    out: dict[str, Agent] = {}
    for model_id, agent in pairs:
        if not isinstance(agent, Agent):
            raise ConfigurationError(f"create_app serves tyler Agents, got {type(agent).__name__}")
        if not isinstance(model_id, str) or not model_id:
            raise ConfigurationError(f"model id {model_id!r} must be a non-empty string")
        if model_id in out:
            raise ConfigurationError(f"two agents are served as model {model_id!r}: give them distinct names")
        out[model_id] = agent
    if not out:
        raise ConfigurationError("create_app needs at least one agent")
    return out


def _bind_store(agents: dict[str, Agent], store: ThreadStore | str | None) -> ThreadStore:
    from ..storage import ThreadStore

    own = {id(a.thread_store): a.thread_store for a in agents.values() if a.thread_store is not None}
    if store is None:
        if len(own) > 1:
            raise ConfigurationError("the agents use different thread stores: pass create_app(store=...)")
        store = next(iter(own.values())) if own else ThreadStore()
    elif not isinstance(store, ThreadStore):
        store = ThreadStore(store)
    for agent in agents.values():
        if agent.thread_store is None:
            agent.thread_store = store
        elif agent.thread_store is not store:
            raise ConfigurationError(f"agent {agent.name!r} has its own thread store; the server needs one store")
    return store


def create_app(
    agents: Agent | Iterable[Agent] | Mapping[str, Agent],
    *,
    store: ThreadStore | str | None = None,
    api_keys: Iterable[str] = (),
    cors_origins: Iterable[str] = (),
    heartbeat: float = 15.0,
    max_body: int = DEFAULT_MAX_BODY,
    max_runs_per_key: int = 16,
    tool_activity: bool = False,
    reasoning_alias: bool = False,
    page: bool = True,
    runs: RunManager | str | None = None,
    run_retention: float = 3600.0,
    run_max_events: int = 100_000,
    max_runs_per_worker: int = 100,
    max_queued_runs: int = 1000,
    redis_prefix: str = "tyler:",
) -> Starlette:
    """An ASGI app serving `agents` over OpenAI Chat Completions and Responses, the Vercel AI SDK
    UI message stream, AG-UI, native event streams (SSE, WebSocket) and a threads API.

    Args:
        agents: an Agent, a list (each served as the model id `agent.name`) or a {model id: Agent} map.
        store: a ThreadStore or a database URL (None: the agents' store, else in memory). Agents
            without a store are given this one, so every run is saved.
        api_keys: when given, every endpoint but `GET /health` needs `Authorization: Bearer <key>`.
        cors_origins: origins allowed by CORS (none by default).
        heartbeat: seconds of silence after which a stream sends a `: ping` comment.
        max_body: largest request body accepted, in bytes (413 above).
        max_runs_per_key: concurrent runs allowed per API key (429 above).
        tool_activity: show server-run tools as reasoning text in Chat Completions.
        reasoning_alias: in Chat Completions, send thinking as `reasoning` too, beside
            `reasoning_content` (for clients that read only `reasoning`, OpenRouter's name).
        page: serve the chat page at `/` (static files in the package; needs no API key itself).
        runs: make streaming runs resumable (see `tyler.server.resume`): "memory" (this process),
            a redis:// URL (runs shared by every worker and host on that Redis) or a RunManager.
        run_retention: seconds a finished run's events stay replayable (with `runs` given as a string).
        run_max_events: events kept per run (with `runs` given as a string; older ones are dropped).
        max_runs_per_worker: runs this process drives at once (with `runs` given as a string); beyond
            it a new run waits in the Redis queue for any worker (in-process runs: 429).
        max_queued_runs: runs waiting in the Redis queue; one more is refused with 429.
        redis_prefix: prefix of the Redis keys (runs, queue, leases): deployments sharing one Redis
            need one each, or their workers would take each other's queued runs.
    """
    if not (isinstance(heartbeat, int | float) and heartbeat > 0):
        raise ConfigurationError(f"heartbeat must be a positive number of seconds, got {heartbeat!r}")
    by_id = _agents_by_id(agents)
    server = Server(by_id, _bind_store(by_id, store), heartbeat=heartbeat, max_body=max_body,
                    tool_activity=tool_activity, reasoning_alias=reasoning_alias,
                    registry=RunRegistry(max_runs_per_key))
    manager = run_manager(runs, store=server.store, retention=run_retention, max_events=run_max_events,
                          max_runs=max_runs_per_worker, max_queue=max_queued_runs, prefix=redis_prefix)
    if manager is not None and manager.runner is None:  # queued runs (Redis) started here run this server's agents
        from functools import partial

        from .resume import run_job

        manager.runner = partial(run_job, server)
    server.runs = Runs(manager) if manager is not None else None
    keys = [k for k in api_keys if k]
    routes: list[BaseRoute] = [
        Route("/health", _health, methods=["GET"]),
        Route("/v1/models", _endpoint(server, _models), methods=["GET"]),
        Route("/v1/chat/completions", _endpoint(server, chat_completions), methods=["POST"]),
        Route("/v1/responses", _endpoint(server, responses), methods=["POST"]),
        Route("/v1/runs/{run_id}/cancel", _endpoint(server, _cancel_run), methods=["POST"]),
        Route("/api/chat", _endpoint(server, ai_sdk_chat), methods=["POST"]),
        Route("/ag-ui", _endpoint(server, ag_ui), methods=["POST"]),
        Route("/api/chat/{chat_id}/stream", _endpoint(server, _no_stream_to_resume), methods=["GET"]),
    ]
    from . import native, resume

    routes += native.routes(server, _endpoint)
    routes += resume.routes(server, _endpoint)
    routes.append(WebSocketRoute("/v1/ws", native.websocket_endpoint(server)))
    if page:
        from . import webui

        routes += webui.routes()
    middleware = [
        Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "DELETE"],
                   allow_headers=["authorization", "content-type", THREAD_HEADER, "last-event-id"],
                   expose_headers=[THREAD_HEADER, RUN_HEADER]),
        Middleware(BearerAuth, keys=keys),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_lifespan(server),
                    exception_handlers={HTTPException: _http_error})
    app.state.tyler = server
    return app


def _lifespan(server: Server) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if server.runs is not None:
            await server.runs.get()  # Redis down: the worker does not start, with a clear error
        try:
            yield
        finally:
            if server.runs is not None:
                await server.runs.close()

    return lifespan


def _endpoint(server: Server, handler: Any) -> Any:
    """Bind `handler(server, request)` and render RequestError / TylerError in the path's error shape."""

    async def endpoint(request: Request) -> Response | EventStream:
        try:
            response: Response | EventStream = await handler(server, request)
        except RequestError as exc:
            return error_response(request.url.path, exc)
        except TylerError as exc:  # the store failed, say: a clear 503, no traceback
            error = RequestError(f"{type(exc).__name__}: {exc}", status=503, code="unavailable")
            return error_response(request.url.path, error)
        return response

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(request.url.path, RequestError(str(exc.detail), status=exc.status_code, code=code))


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _models(server: Server, request: Request) -> Response:
    data = [{"id": model_id, "object": "model", "created": server.created, "owned_by": "tyler"}
            for model_id in server.agents]
    return JSONResponse({"object": "list", "data": data})


async def _cancel_run(server: Server, request: Request) -> Response:
    if server.runs is not None:  # the run may live on another worker: cancel through the run log
        from .resume import cancel_run

        return await cancel_run(server, request)
    handle = server.registry.get(request.path_params["run_id"])
    if handle is None:
        raise RequestError(f"no run {request.path_params['run_id']!r} in progress here", status=404,
                           code="run_not_found")
    handle.cancel()
    return JSONResponse({"id": handle.id, "thread_id": handle.thread_id, "status": "cancelling"})


async def chat_completions(server: Server, request: Request) -> Response | EventStream:
    chat = parse_request(await server.body(request), request.headers.get(THREAD_HEADER))
    model, agent = server.agent(chat.model)
    agent = with_client_tools(agent, chat.tools)
    thread = await stored_or_new(server.store, chat.thread_id)
    start = _add_resent(thread, chat.messages)
    handle = server.open_run(request, thread.id, model=model)
    await server.replace(handle, thread, start, "regenerate")
    encoder = ChatCompletionsEncoder(
        model, include_usage=chat.include_usage, client_tool_names=frozenset(t.name for t in chat.tools),
        tool_activity=server.tool_activity, stream=chat.stream, reasoning_alias=server.reasoning_alias,
    )
    if chat.stream:
        return server.stream(handle, agent, thread, encoder)
    await server.collect(request, handle, agent, thread, encoder)
    if encoder.error is not None:
        return JSONResponse({"error": encoder.error}, status_code=502, headers={THREAD_HEADER: thread.id})
    return JSONResponse(encoder.completion(), headers={THREAD_HEADER: thread.id, RUN_HEADER: handle.id})


async def responses(server: Server, request: Request) -> Response | EventStream:
    from . import responses as api

    parsed = api.parse_request(await server.body(request))
    model, agent = server.agent(parsed.model)
    agent = with_client_tools(agent, parsed.tools)
    if parsed.continues:
        assert parsed.thread_id is not None
        thread = await load_thread(server.store, parsed.thread_id)
        append_turn(thread, parsed.messages)
        start: int | None = None
    else:
        thread = await stored_or_new(server.store, parsed.thread_id)
        start = _add_resent(thread, parsed.messages)
    handle = server.open_run(request, thread.id, model=model)
    await server.replace(handle, thread, start, "regenerate")
    encoder = api.ResponsesEncoder(model, thread.id, client_tool_names=frozenset(t.name for t in parsed.tools),
                                   stream=parsed.stream)
    if parsed.stream:
        return server.stream(handle, agent, thread, encoder)
    await server.collect(request, handle, agent, thread, encoder)
    body = encoder.response
    if body["status"] == "failed":
        error = RequestError(body["error"]["message"], status=502, code="server_error")
        return JSONResponse(openai_error_body(error), status_code=502, headers={THREAD_HEADER: thread.id})
    return JSONResponse(body, headers={THREAD_HEADER: thread.id, RUN_HEADER: handle.id})


async def ai_sdk_chat(server: Server, request: Request) -> Response | EventStream:
    """Vercel AI SDK `DefaultChatTransport`: `{id, messages, trigger, messageId, ...body}`; the chat id is
    the thread id, `model` in the body picks the agent.

    `regenerate()` (trigger "regenerate-message") and an edited user message (`sendMessage` with
    the `messageId` of a user message) rewrite the stored conversation from the client's point:
    the replaced messages stay stored, marked (see `runs.replace_tail`), and a new run answers."""
    from . import vercel

    chat = vercel.parse_chat(await server.body(request))
    if chat.chat_id is not None:
        thread_id_param(chat.chat_id, "id")
    model_id, agent = server.agent(chat.model)
    thread = await stored_or_new(server.store, chat.chat_id)
    start = _rewrite_start(thread, chat) if chat.rewrite else None
    if start is None:
        append_turn(thread, new_messages_for(thread, chat.messages))
    handle = server.open_run(request, thread.id, model=model_id)
    await server.replace(handle, thread, start, chat.rewrite or "")
    if start is not None and chat.rewrite == "edit":
        thread.add_message(chat.messages[-1])
    return server.stream(handle, agent, thread, vercel.VercelEncoder(), headers=vercel.HEADERS)


def _add_resent(thread: Thread, messages: list[Message]) -> int | None:
    """Add what a client that resends its whole conversation sent new, or, when it asks for a reply
    again (`runs.regenerated_at`), add nothing and return where the stored reply is cut."""
    start = regenerated_at(thread, messages)
    if start is None:
        append_turn(thread, new_messages_for(thread, messages))
    return start


def _rewrite_start(thread: Thread, chat: Any) -> int | None:
    """Where the stored thread is cut for a regenerate/edit: after (regenerate) or at (edit) its
    n-th user message, n being the client's count. None: the thread has fewer user messages (a new
    or lost thread: the client's messages are taken as a new turn). 409 when the stored question
    is not the one the client asks to answer again (the thread went on elsewhere)."""
    users = [i for i, m in enumerate(thread.messages) if m.role == "user"]
    if len(users) < chat.turn:
        return None
    at = users[chat.turn - 1]
    if chat.rewrite == "edit":
        return at
    if thread.messages[at].text != chat.messages[-1].text:
        raise RequestError(
            f"cannot regenerate: user message {chat.turn} of thread {thread.id!r} is not the one the client "
            "sent last (the conversation changed elsewhere); reload it", status=409, code="conversation_conflict",
            param="messages")
    return at + 1


async def _no_stream_to_resume(server: Server, request: Request) -> Response | EventStream:
    """AI SDK resume: 204 = no active stream; a resumable server replays the chat's run in progress."""
    if server.runs is not None:
        from .resume import ai_sdk_resume

        return await ai_sdk_resume(server, request)
    return Response(status_code=204)


async def ag_ui(server: Server, request: Request) -> Response | EventStream:
    """AG-UI `HttpAgent`: a `RunAgentInput` body; its threadId is the thread id, its tools the client's."""
    from . import agui

    run = agui.parse_input(await server.body(request))
    run_id = None
    if server.runs is not None:  # the same threadId + runId again is a reconnect to that run
        from .resume import ag_ui_resume, agui_run_id

        resumed = await ag_ui_resume(server, request, run)
        if resumed is not None:
            return resumed
        run_id = agui_run_id(run.thread_id, run.run_id)
    model_id, agent = server.agent(run.model, param="forwardedProps.model")
    agent = with_client_tools(agent, run.tools)
    thread = await stored_or_new(server.store, run.thread_id)
    start = _add_resent(thread, run.messages)
    state = agui.remember_state(thread, run.state)
    handle = server.open_run(request, thread.id, run_id, model=model_id)
    await server.replace(handle, thread, start, "regenerate")
    encoder = agui.AGUIEncoder(run.thread_id, run.run_id, frozenset(t.name for t in run.tools),
                               snapshot=agui.snapshot_messages(thread), state=state)
    return server.stream(handle, agent, thread, encoder)
