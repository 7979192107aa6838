"""`Agent`: a model, a purpose and tools, run over a Thread.

An Agent holds configuration only; each run starts from a frozen `RunContext` the agent builds
and keeps its own state (see `_run`), so one Agent serves any number of concurrent runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Iterable
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import BaseModel

from . import _run
from ._checks import check_seconds, is_number
from ._context import RunContext
from .approval import ApprovalHandler, ApprovalRequest, Approvals
from .chunks import RawChunk
from .context import ContextPolicy, ContextStrategy
from .delegation import delegation_tool
from .events import AgentResult, EventType, ExecutionEvent
from .exceptions import ConfigurationError, ExecutionError, TylerError
from .messages import Thread
from .providers.base import REASONING_EFFORTS, ModelSettings, Provider, ReasoningEffort, ToolSpec
from .structured import OutputSpec, RetryConfig
from .tools import Tool, build_toolset

if TYPE_CHECKING:
    from .storage import ThreadStore

StreamMode = Literal["events", "raw", "openai", "vercel", "vercel_objects"]
_VERCEL = ("vercel", "vercel_objects")
_EventsMode = Literal["events", True]
_RawMode = Literal["raw", "openai"]


def _mode(stream: Any) -> _run.Mode:
    if stream is True or stream == "events":
        return _run.Mode.EVENTS
    if stream in ("raw", "openai"):
        return _run.Mode.RAW
    raise ConfigurationError(
        f"unknown stream mode {stream!r}: use True/'events', 'raw', 'openai', 'vercel' or 'vercel_objects'"
    )


def _check_numbers(
    *, temperature: Any, max_tool_iterations: Any, max_tokens: Any, stall_timeout: Any,
    connect_timeout: Any, max_retries: Any, tool_timeout: Any, request_timeout: Any = None,
) -> None:
    """Reject bad numeric settings with a ConfigurationError now, not a TypeError mid-run.

    bool is refused although it is an int: `max_tool_iterations=True` is a mistake, not 1.
    """
    if temperature is not None and not (is_number(temperature) and 0 <= temperature <= 2):
        raise ConfigurationError(f"temperature must be a number between 0 and 2, got {temperature!r}")
    for label, count, low in (("max_tool_iterations", max_tool_iterations, 1), ("max_retries", max_retries, 0)):
        if not isinstance(count, int) or isinstance(count, bool) or count < low:
            raise ConfigurationError(f"{label} must be an integer >= {low}, got {count!r}")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise ConfigurationError(f"max_tokens must be None or an integer >= 1, got {max_tokens!r}")
    check_seconds(stall_timeout=stall_timeout, connect_timeout=connect_timeout)
    if tool_timeout is not None:  # None: tools may run without a time limit
        check_seconds(tool_timeout=tool_timeout)
    if request_timeout is not None:
        check_seconds(request_timeout=request_timeout)


class Agent:
    """An AI agent that streams.

    Args:
        name: the agent's name (used in the system prompt).
        model_name: a LiteLLM-style model string: "gpt-4o", "anthropic/claude-...", "groq/...",
            "ollama/...", "local/smollm2"... (see the README's model table).
        purpose: what the agent is for (system prompt).
        notes: extra instructions appended to the system prompt.
        tools: callables, `Tool`s or Tyler-style dicts `{"definition": ..., "implementation": ...}`.
        thread_store: a `ThreadStore`; when set, each new message is saved as the run goes.
        temperature, max_tokens: sampling settings (None = the provider's default).
        max_tool_iterations: model turns allowed per run; then ITERATION_LIMIT.
        api_base / base_url, api_key: override the provider's endpoint and key.
        reasoning: None, "low"/"medium"/"high", or a provider dict (e.g. Anthropic
            `{"type": "enabled", "budget_tokens": 2048}`).
        extra_headers, extra_body: sent with every model request.
        stall_timeout: a stream that completes no event for this many seconds fails the run
            (keep-alives and the bytes of an unfinished event do not count as progress).
        request_timeout: an overall time limit per model request, from connecting to the
            stream's end (None: no limit; the stall timeout still applies).
        connect_timeout, max_retries: connection settings (retries only before the first chunk).
        tool_timeout: default per-call time limit of tools (a Tool's own timeout wins).
        mcp: MCP servers config `{"servers": [...]}` (see `tyler.mcp`).
        provider: a `Provider` instance to use instead of routing `model_name` (custom providers).
        system_prompt: replace the generated system prompt entirely.
        http_client: an `aiohttp.ClientSession` or `httpx.AsyncClient` to send model requests with
            (your proxies, TLS, HTTP/2, limits); you keep it open and close it. Default: one
            shared pool per event loop.
        agents: other agents this one may delegate to, each offered as a tool named after it
            (one `task` argument); their events stream into this agent's (see `tyler.delegation`).
        response_type: a pydantic model class: every run's answer is validated into one
            (`AgentResult.structured_data`; see `tyler.structured`). Per run: `run(..., response_type=)`.
        retry_config: `RetryConfig` for answers that fail validation (default: 3 retries).
        approval_handler: decides calls of tools that require approval (`tyler.approval`):
            `fn(request) -> bool | (bool, reason)`, sync or async. Without it, calls wait for
            `await agent.approve(call_id)` / `await agent.deny(call_id, reason)`.
        refuse_repeated_tool_calls: a tool call identical (same tool, same arguments) to one
            already run in this run is not run again: it gets an error result saying so. After
            a turn whose calls all failed or were refused, the next model turn is sent without
            tools, so the model answers from what it has. None (default): on for providers that
            declare the need (small local models that call the same tool again after its
            result, or guess one path after another), off otherwise.
    """

    def __init__(
        self,
        *,
        name: str = "Tyler",
        model_name: str = "gpt-4.1",
        purpose: str = "To be a helpful assistant.",
        notes: str = "",
        tools: Iterable[Any] = (),
        thread_store: ThreadStore | None = None,
        temperature: float | None = None,
        max_tool_iterations: int = 10,
        api_base: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        reasoning: ReasoningEffort | dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        stall_timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 2,
        tool_timeout: float | None = 300.0,
        mcp: dict[str, Any] | None = None,
        provider: Provider | None = None,
        system_prompt: str | None = None,
        request_timeout: float | None = None,
        http_client: Any = None,
        agents: Iterable[Any] = (),
        response_type: type[BaseModel] | None = None,
        retry_config: RetryConfig | None = None,
        approval_handler: ApprovalHandler | None = None,
        context_window: int | None = None,
        context_strategy: ContextStrategy = "trim",
        refuse_repeated_tool_calls: bool | None = None,
    ) -> None:
        if api_base and base_url and api_base != base_url:
            raise ConfigurationError("pass api_base or base_url, not two different values")
        _check_numbers(
            temperature=temperature, max_tool_iterations=max_tool_iterations, max_tokens=max_tokens,
            stall_timeout=stall_timeout, connect_timeout=connect_timeout, max_retries=max_retries,
            tool_timeout=tool_timeout, request_timeout=request_timeout,
        )
        if reasoning is not None and not isinstance(reasoning, dict) and reasoning not in REASONING_EFFORTS:
            raise ConfigurationError(f"reasoning must be None, one of {REASONING_EFFORTS} or a dict")
        if refuse_repeated_tool_calls not in (None, True, False):
            raise ConfigurationError(
                f"refuse_repeated_tool_calls must be None, True or False, got {refuse_repeated_tool_calls!r}"
            )
        self.name = name
        self.model_name = model_name
        self.purpose = purpose
        self.notes = notes
        self.thread_store = thread_store
        self.temperature = temperature
        self.max_tool_iterations = max_tool_iterations
        self.api_base = api_base or base_url
        self.api_key = api_key
        self.reasoning = reasoning
        self.tool_timeout = tool_timeout
        self.refuse_repeated_tool_calls = refuse_repeated_tool_calls
        self._custom_system_prompt = system_prompt
        self._context_policy = ContextPolicy(model_name, context_strategy, context_window)
        self._settings = ModelSettings(
            temperature=temperature,
            max_tokens=max_tokens,
            reasoning=reasoning,
            extra_headers=extra_headers,
            extra_body=extra_body,
            connect_timeout=connect_timeout,
            stall_timeout=stall_timeout,
            max_retries=max_retries,
            request_timeout=request_timeout,
        )
        if retry_config is not None and not isinstance(retry_config, RetryConfig):
            raise ConfigurationError(f"retry_config must be a RetryConfig, got {type(retry_config).__name__}")
        self.retry_config = retry_config or RetryConfig()
        self.response_type = response_type
        self._output = self._output_spec(response_type)
        self._approvals = Approvals(approval_handler)
        self.agents = list(agents)
        self._tools: dict[str, Tool] = build_toolset([*tools, *(delegation_tool(a) for a in self.agents)])
        self._tool_specs: list[ToolSpec] = [t.spec for t in self._tools.values()]
        self._provider_instance = provider
        self._http_client = None
        if http_client is not None:
            from .providers.transport import as_transport

            if provider is not None:  # it would be silently unused
                raise ConfigurationError("http_client= is for the built-in providers; give your provider= its client")
            as_transport(http_client)  # a client of another kind fails here, not mid-run
            self._http_client = http_client
        self._mcp_config = mcp
        self._mcp: Any = None
        self._mcp_lock: asyncio.Lock | None = None
        self._mcp_tool_names: list[str] = []
        if provider is None:
            from .providers import check_model

            check_model(model_name, self.api_base)  # a bad model string fails here, not mid-run

    # -- configuration -------------------------------------------------------------------------

    @property
    def context_strategy(self) -> str:
        return self._context_policy.strategy

    @property
    def context_window(self) -> int | None:
        """The window set with `context_window=`, else the known one of a hosted model, else None."""
        from .context import known_context_window

        return self._context_policy.window or known_context_window(self.model_name)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    @property
    def system_prompt(self) -> str:
        if self._custom_system_prompt is not None:
            return self._custom_system_prompt
        parts = [f"You are {self.name}, an AI agent.", f"Your purpose: {self.purpose}"]
        if self.notes:
            parts.append(f"Notes:\n{self.notes}")
        parts.append(f"Current date: {datetime.now(UTC):%Y-%m-%d}.")
        return "\n".join(parts)

    def _provider(self) -> Provider:
        if self._provider_instance is None:
            from .providers import resolve_provider

            self._provider_instance = resolve_provider(
                self.model_name, api_base=self.api_base, api_key=self.api_key, client=self._http_client
            )
        return self._provider_instance

    def _refuses_repeats(self) -> bool:
        if self.refuse_repeated_tool_calls is not None:
            return self.refuse_repeated_tool_calls
        return bool(getattr(self._provider(), "refuses_repeated_tool_calls", False))

    async def _prepare(self) -> None:
        """Connect configured MCP servers once (their tools join the agent's tools)."""
        if self._mcp_config is None or self._mcp is not None:
            self._provider()
            return
        if self._mcp_lock is None:
            self._mcp_lock = asyncio.Lock()
        async with self._mcp_lock:
            if self._mcp is None:
                await self.connect_mcp()
        self._provider()

    async def _context(self, output: OutputSpec | None = None) -> RunContext:
        """Prepare (MCP, provider) and freeze what one run reads; later tool changes miss this run."""
        await self._prepare()
        return RunContext(
            output=output.for_provider(self._provider()) if output is not None else None,
            approvals=self._approvals,
            model_name=self.model_name,
            provider=self._provider(),
            tools=MappingProxyType(dict(self._tools)),
            tool_specs=tuple(self._tool_specs),
            settings=self._settings,
            system_prompt=self.system_prompt,
            max_tool_iterations=self.max_tool_iterations,
            tool_timeout=self.tool_timeout,
            owner=self,
            context=self._context_policy,
            refuse_repeated_tool_calls=self._refuses_repeats(),
        )

    def _execute(
        self, thread: Thread | str, mode: _run.Mode, response_type: type[BaseModel] | None = None
    ) -> AsyncGenerator[Any, None]:
        output = self._output_for(response_type)
        return _run.execute(thread, mode, store=self.thread_store, prepare=lambda: self._context(output))

    async def connect_mcp(self) -> list[Tool]:
        """Connect the configured MCP servers now and add their tools; returns the new tools."""
        from .mcp import MCPManager

        manager = MCPManager()
        dict_tools = await manager.connect(self._mcp_config or {})
        new = build_toolset(dict_tools)
        clash = set(new) & set(self._tools)
        if clash:
            await manager.close()
            raise ConfigurationError(f"MCP tools clash with existing tools: {sorted(clash)}")
        self._mcp = manager
        self._mcp_tool_names = list(new)
        self._tools.update(new)
        self._tool_specs = [t.spec for t in self._tools.values()]
        return list(new.values())

    async def close(self) -> None:
        """Close MCP servers this agent started. The shared HTTP pool stays for other agents."""
        manager, self._mcp = self._mcp, None
        if manager is not None:
            for name in self._mcp_tool_names:
                self._tools.pop(name, None)
            self._tool_specs = [t.spec for t in self._tools.values()]
            await manager.close()

    cleanup = close

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- running -------------------------------------------------------------------------------

    # -- approvals -------------------------------------------------------------------------------

    async def approve(self, call_id: str) -> None:
        """Approve a tool call waiting for approval (APPROVAL_REQUESTED's `tool_call_id`), this
        agent's or, for an event forwarded from a delegated agent, that agent's."""
        self._approvals_of(call_id).resolve(call_id, True)

    async def deny(self, call_id: str, reason: str | None = None) -> None:
        """Deny a waiting tool call; the model gets a tool result saying so, with `reason`."""
        self._approvals_of(call_id).resolve(call_id, False, reason)

    def pending_approvals(self) -> list[ApprovalRequest]:
        """The tool calls now waiting for approval in this agent's runs and its delegates'."""
        return [r for approvals in self._all_approvals() for r in approvals.pending()]

    def _all_approvals(self) -> list[Approvals]:
        """This agent's approvals and its delegates', each agent once (delegation may be cyclic)."""
        found: dict[int, Approvals] = {}
        todo = [self]
        while todo:
            agent = todo.pop()
            if id(agent) not in found:
                found[id(agent)] = agent._approvals
                todo.extend(agent.agents)
        return list(found.values())

    def _approvals_of(self, call_id: str) -> Approvals:
        for approvals in self._all_approvals():
            if approvals.waiting(call_id):
                return approvals
        return self._approvals  # resolve() then says no such call is waiting

    def _output_spec(self, response_type: Any) -> OutputSpec | None:
        if response_type is None:
            return None
        return OutputSpec(response_type, self.retry_config)

    def _output_for(self, response_type: Any) -> OutputSpec | None:
        return self._output if response_type is None else self._output_spec(response_type)

    @overload
    def stream(
        self, thread: Thread | str, mode: _EventsMode = "events", *, stream: _EventsMode | None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[ExecutionEvent, None]: ...
    @overload
    def stream(
        self, thread: Thread | str, mode: _RawMode, *, stream: _RawMode | None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[RawChunk, None]: ...
    @overload
    def stream(
        self, thread: Thread | str, mode: Literal["events"] = "events", *, stream: _RawMode,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[RawChunk, None]: ...
    @overload
    def stream(
        self, thread: Thread | str, mode: Literal["vercel"], *, stream: None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[str, None]: ...
    @overload
    def stream(
        self, thread: Thread | str, mode: Literal["vercel_objects"], *, stream: None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]: ...
    @overload
    def stream(
        self, thread: Thread | str, mode: StreamMode | bool = "events", *, stream: StreamMode | bool | None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[Any, None]: ...
    def stream(
        self, thread: Thread | str, mode: StreamMode | bool = "events", *, stream: StreamMode | bool | None = None,
        response_type: type[BaseModel] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Run the agent and stream.

        mode="events" (or True): `ExecutionEvent`s, ending with exactly one EXECUTION_COMPLETE or
        EXECUTION_ERROR. mode="raw" (alias "openai"): OpenAI `chat.completion.chunk` objects
        (`RawChunk`), tools executed between turns; failures raise `TylerError` subclasses.
        mode="vercel": Vercel AI SDK UI message stream SSE strings (one per part, then `[DONE]`);
        mode="vercel_objects": the same parts as dicts (see `tyler.server.vercel`).
        `stream=` is accepted as a synonym of `mode=` (the guide speaks of `stream=True`).
        `response_type`: the answer streams as partial JSON (LLM_STREAM_CHUNK) and EXECUTION_COMPLETE
        carries `structured_data`.
        """
        if stream is not None:
            if mode != "events" and _mode(mode) is not _mode(stream):
                raise ConfigurationError(f"mode={mode!r} and stream={stream!r} disagree")
            mode = stream
        if mode in _VERCEL:
            from .server.vercel import vercel_stream

            events = self._execute(thread, _run.Mode.EVENTS, response_type)
            return vercel_stream(events, objects=mode == "vercel_objects")
        return self._execute(thread, _mode(mode), response_type)

    @overload
    def go(
        self, thread: Thread | str, stream: Literal[False] = False, *, response_type: type[BaseModel] | None = None
    ) -> Awaitable[AgentResult]: ...
    @overload
    def go(
        self, thread: Thread | str, stream: _EventsMode, *, response_type: type[BaseModel] | None = None
    ) -> AsyncGenerator[ExecutionEvent, None]: ...
    @overload
    def go(
        self, thread: Thread | str, stream: _RawMode, *, response_type: type[BaseModel] | None = None
    ) -> AsyncGenerator[RawChunk, None]: ...
    @overload
    def go(
        self, thread: Thread | str, stream: bool | str, *, response_type: type[BaseModel] | None = None
    ) -> Awaitable[AgentResult] | AsyncGenerator[ExecutionEvent | RawChunk, None]: ...
    def go(
        self, thread: Thread | str, stream: bool | str = False, *, response_type: type[BaseModel] | None = None
    ) -> Any:
        """`await agent.go(thread)` → AgentResult; `agent.go(thread, stream=True|"events"|"raw")` → iterator."""
        if stream:
            return self._execute(thread, _mode(stream), response_type)
        return self._go(thread, response_type)

    def run(self, thread: Thread | str, *, response_type: type[BaseModel] | None = None) -> Awaitable[AgentResult]:
        """Alias of non-streaming `go()` (newer Tyler naming)."""
        return self._go(thread, response_type)

    async def _go(self, thread: Thread | str, response_type: type[BaseModel] | None = None) -> AgentResult:
        result_thread: Thread | None = thread if isinstance(thread, Thread) else None
        new_messages = []
        async for event in self._execute(thread, _run.Mode.RESULT, response_type):
            if event.type is EventType.MESSAGE_CREATED:
                new_messages.append(event.data["message"])
            elif event.type is EventType.EXECUTION_COMPLETE:
                return _result(event, result_thread, thread, new_messages, self)
        raise ExecutionError("the run ended without a terminal event")  # unreachable by design

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, model_name={self.model_name!r}, tools={list(self._tools)})"


def _result(
    event: ExecutionEvent, result_thread: Thread | None, thread: Thread | str, new: list[Any], agent: Agent
) -> AgentResult:
    if result_thread is None:
        result_thread = event.data["thread"]
    final = next((m for m in reversed(new) if m.role == "assistant"), None)
    return AgentResult(
        thread=result_thread,
        new_messages=new,
        content=final.content if final is not None and isinstance(final.content, str) else None,
        usage=event.data.get("usage", {}),
        duration_ms=event.data.get("duration_ms", 0.0),
        structured_data=event.data.get("structured_data"),
        retry_history=event.data.get("retry_history", []),
    )


__all__ = ["Agent", "TylerError"]
