"""`tyler serve`: run the HTTP server (`tyler.server`) under uvicorn.

The options travel to uvicorn's worker processes as JSON in an environment variable, and each
process builds its app with `app_from_env` (a uvicorn factory): that is how `--workers N` gets N
real uvicorn workers rather than a home-made process pool.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import ConfigurationError
from ._loop import uses_uvloop

ENV_CONFIG = "TYLER_SERVE_CONFIG"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class ServeOptions:
    """Everything `tyler serve` was asked for (JSON-able, for the worker processes)."""

    agent: str | None = None
    model: str | None = None
    name: str = "tyler"
    purpose: str | None = None
    tools: str | None = None
    reasoning: str | None = None
    store: str | None = None
    api_keys: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    heartbeat: float = 15.0
    max_body: int = 4 * 1024 * 1024
    max_runs_per_key: int = 16
    tool_activity: bool = False
    reasoning_alias: bool = False
    runs: str | None = None  # resumable runs: "memory" or a redis:// URL (tyler.server.resume)
    run_retention: float = 3600.0  # seconds a finished run's log is kept
    run_max_events: int = 100_000  # events kept per run
    max_runs_per_worker: int = 100  # runs one worker process drives at once
    max_queued_runs: int = 1000  # runs waiting in the Redis queue (429 above)
    redis_prefix: str = "tyler:"  # Redis key prefix: one per deployment sharing a Redis


def api_keys_from(options: list[str], env: dict[str, str] | os._Environ[str]) -> list[str]:
    keys = [k.strip() for k in options if k.strip()]
    keys += [k.strip() for k in env.get("TYLER_API_KEYS", "").split(",") if k.strip()]
    return keys


def load_agents(spec: str) -> Any:
    """`module:attr` → the Agent(s) it names (an Agent, a list, a {model id: Agent} map, or a
    callable returning one of those)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(f"--agent must look like module:attribute, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: find modules in the current directory
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"--agent: cannot import {module_name!r}: {exc}") from exc
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"--agent: module {module_name!r} has no attribute {attr!r}") from None
    from ..agent import Agent

    if callable(value) and not isinstance(value, Agent):
        value = value()
    return value


def build_agents(options: ServeOptions) -> Any:
    if options.agent:
        if options.model:
            raise ConfigurationError("pass --agent or --model, not both")
        return load_agents(options.agent)
    from ..agent import Agent
    from .config import DEFAULT_PURPOSE, check_reasoning, choose_model, load_tools, parse_tool_sets

    choice = choose_model(options.model)
    tools = [] if options.tools is None else parse_tool_sets(options.tools)
    return Agent(name=options.name, model_name=choice.name, purpose=options.purpose or DEFAULT_PURPOSE,
                 tools=load_tools(tools), reasoning=check_reasoning(options.reasoning))


def build_app(options: ServeOptions) -> Any:
    from ..server import create_app
    from .config import chat_db_url

    return create_app(
        build_agents(options), store=options.store or chat_db_url(), api_keys=options.api_keys,
        cors_origins=options.cors_origins, heartbeat=options.heartbeat, max_body=options.max_body,
        max_runs_per_key=options.max_runs_per_key, tool_activity=options.tool_activity, runs=options.runs,
        reasoning_alias=options.reasoning_alias,
        run_retention=options.run_retention, run_max_events=options.run_max_events,
        max_runs_per_worker=options.max_runs_per_worker, max_queued_runs=options.max_queued_runs,
        redis_prefix=options.redis_prefix,
    )


def runs_option(resumable: bool, redis: str | None, env: dict[str, str] | os._Environ[str]) -> str | None:
    """--redis URL (or $TYLER_REDIS_URL) → that URL; --resumable alone → in-process runs."""
    url = redis or env.get("TYLER_REDIS_URL") or None
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"--redis must be a redis:// URL, got {url!r}")
    return url or ("memory" if resumable else None)


def check_run_log(runs: str | None, prefix: str = "tyler:") -> None:
    """Redis unreachable (or too old) at start: one clear error here, not a failure in every worker."""
    if runs is None or runs == "memory":
        return
    import asyncio

    from ..exceptions import RunLogUnavailableError
    from ..runs import RedisRunLog

    async def probe() -> None:
        log = RedisRunLog(runs, prefix=prefix)
        try:
            await log.open()
        finally:
            await log.close()

    try:
        asyncio.run(probe())
    except RunLogUnavailableError as exc:
        raise ConfigurationError(f"--redis: {exc}") from None


def app_from_env() -> Any:
    """uvicorn factory: the app for the options `serve()` put in the environment."""
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        raise ConfigurationError(f"{ENV_CONFIG} is not set: start the server with `tyler serve`")
    app = build_app(ServeOptions(**json.loads(raw)))
    # Start-up objects live for the whole process: keep full collections from walking them
    # mid-stream (a full collection over a large heap pauses every stream for ~0.2 s).
    gc.freeze()
    return app


def page_url(host: str, port: int) -> str:
    """Where a browser on this machine finds the chat page."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def open_when_up(url: str, *, timeout: float = 60.0) -> threading.Thread:
    """Open `url` in the default browser once the server answers `/health` (in a daemon thread)."""

    def wait_and_open() -> None:
        import webbrowser

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "health", timeout=2.0)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            webbrowser.open(url)
            return

    thread = threading.Thread(target=wait_and_open, name="tyler-open-page", daemon=True)
    thread.start()
    return thread


def serve(options: ServeOptions, *, host: str, port: int, workers: int, open_page: bool = False) -> int:
    """Check the options in this process (clear errors, exit 2), then run uvicorn."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError("tyler serve needs the 'serve' extra: pip install 'tyler-stream[serve]'") from exc
    if workers < 1:
        raise ConfigurationError(f"--workers must be >= 1, got {workers}")
    if not options.run_retention > 0 or options.run_max_events < 1:
        raise ConfigurationError(f"--run-retention must be > 0 s and --run-max-events >= 1, got "
                                 f"{options.run_retention:g} and {options.run_max_events}")
    if options.max_runs_per_worker < 1 or options.max_queued_runs < 1:
        raise ConfigurationError(f"--max-runs-per-worker and --max-queued-runs must be >= 1, got "
                                 f"{options.max_runs_per_worker} and {options.max_queued_runs}")
    if workers > 1 and options.runs == "memory":
        # Each worker would keep its own runs: a resume, status query or cancel that the OS hands
        # to another worker would find nothing (404) or stop nothing.
        raise ConfigurationError(
            "--resumable keeps runs in one worker's memory, so with --workers > 1 a reconnect could reach "
            "a worker that does not have the run: use --redis URL (runs shared by every worker) or --workers 1"
        )
    build_app(options)  # a bad --agent, model or store fails here, once, not in every worker
    check_run_log(options.runs, options.redis_prefix)
    from .console import err_console

    if host not in LOOPBACK and not options.api_keys:
        err_console().print(f"[bold yellow]warning:[/bold yellow] serving on {host} without --api-key: "
                            "anyone who can reach this port can run the agent")
    os.environ[ENV_CONFIG] = json.dumps(asdict(options))
    err_console().print(f"chat page: {page_url(host, port)}")
    if open_page:
        open_when_up(page_url(host, port))
    uvicorn.run("tyler.cli.serve_cmd:app_from_env", factory=True, host=host, port=port,
                workers=workers if workers > 1 else None, log_level="info", timeout_graceful_shutdown=5,
                loop="uvloop" if uses_uvloop() else "asyncio")
    return 0
