"""The typer application: `tyler chat`, `tyler run` and `tyler serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..exceptions import ConfigurationError, TylerError
from .config import ModelChoice, check_reasoning, choose_model, default_tools_label, load_tools, parse_tool_sets
from .session import AgentOptions

app = typer.Typer(
    name="tyler",
    help="Streaming AI agents in the terminal. Works offline on an embedded local model.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("tyler-stream")
        except PackageNotFoundError:  # running from a source tree that is not installed
            from .. import __version__ as shown
        typer.echo(f"tyler {shown}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option(
            "--version", callback=_version, is_eager=True, metavar="", help="Show the version and exit."
        )
    ] = False,
) -> None:
    """Streaming AI agents in the terminal. Works offline on an embedded local model."""


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model, e.g. gpt-4o, claude-sonnet-4-5, local/qwen, local/smollm2, local/path/to/model.gguf. "
        "Default: $TYLER_MODEL, else the provider whose API key is set, else local/qwen.",
        show_default=False,
    ),
]
PurposeOpt = Annotated[str | None, typer.Option("--purpose", help="The agent's purpose (system prompt).")]
ToolsOpt = Annotated[
    str | None,
    typer.Option(
        "--tools",
        help="Comma-separated lye tool sets: web, files, or none. Default: read-only file tools confined "
        "to the current folder (web search and fetch instead when it is the home folder or /; never both); "
        "none for local/smollm2.",
        show_default=False,
    ),
]
ReasoningOpt = Annotated[
    str | None, typer.Option("--reasoning", help="Reasoning effort for models that think: low, medium, high.")
]


def _options(model: str | None, purpose: str | None, tools: str | None, reasoning: str | None) -> AgentOptions:
    from rich.markup import escape

    from .console import err_console

    choice = choose_model(model)
    options = AgentOptions(
        model=choice,
        purpose=purpose,
        tool_sets=None if tools is None else tuple(parse_tool_sets(tools)),
        reasoning=check_reasoning(reasoning),
    )
    if options.tool_sets:
        load_tools(list(options.tool_sets))  # an unknown set name fails before the banner, not after it
    shown = default_tools_label(choice) if tools is None else (", ".join(options.tool_sets or ()) or "none")
    console = err_console()
    console.print(f"[dim]model: {choice.name} ({choice.reason}) · tools: {escape(shown)}[/dim]")
    if choice.is_local and options.tool_sets and not _calls_tools(choice):
        console.print("[dim]note: this local model is small and does not make tool calls[/dim]")
    return options


def _calls_tools(choice: ModelChoice) -> bool:
    from ..providers.local_models import bundled

    model = bundled(choice.name)
    return model is None or model.calls_tools  # a .gguf of the user's: it may


@app.command()
def chat(
    model: ModelOpt = None,
    purpose: PurposeOpt = None,
    tools: ToolsOpt = None,
    reasoning: ReasoningOpt = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            "-r",
            help='Continue a saved conversation: its id (or id prefix); "--resume" alone continues the last one.',
            show_default=False,
        ),
    ] = None,
) -> None:
    """Chat interactively (history saved; /help inside lists commands)."""
    from .chat_cmd import run_chat

    code = _guarded(lambda: run_chat(_options(model, purpose, tools, reasoning), resume))
    raise typer.Exit(code)


@app.command()
def run(  # noqa: PLR0917  (typer maps parameters to options)
    prompt: Annotated[
        str | None, typer.Argument(help='The prompt; "-" reads it from stdin.', show_default=False)
    ] = None,
    model: ModelOpt = None,
    purpose: PurposeOpt = None,
    tools: ToolsOpt = None,
    reasoning: ReasoningOpt = None,
    json_lines: Annotated[
        # metavar="": a flag, shown without the "<bool>" that reads as if it took a value
        bool, typer.Option("--json", metavar="", help="Emit every event as one JSON object per line (JSON Lines).")
    ] = False,
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", "-a", help="Attach a file (image, PDF, text) to the prompt; repeatable.",
                     show_default=False),
    ] = None,
) -> None:
    """Answer one prompt, streaming to stdout (plain text when piped)."""
    import sys

    from .run_cmd import read_prompt, run_once

    def go() -> int:
        text = read_prompt(prompt, sys.stdin)
        return run_once(_options(model, purpose, tools, reasoning), text, as_json=json_lines, attach=attach or [])

    raise typer.Exit(_guarded(go))


@app.command()
def serve(  # noqa: PLR0917  (typer maps parameters to options)
    agent: Annotated[str | None, typer.Option(
        "--agent", help="Serve the agent(s) at module:attribute (an Agent, a list, a {model id: Agent} dict "
        "or a function returning one).", show_default=False)] = None,
    model: ModelOpt = None,
    name: Annotated[str, typer.Option("--name", help="Model id of the --model agent (what clients select).")] = "tyler",
    purpose: PurposeOpt = None,
    tools: Annotated[str | None, typer.Option(
        "--tools", help="Comma-separated lye tool sets the --model agent runs server-side: web, files. "
        "Default: none.", show_default=False)] = None,
    reasoning: ReasoningOpt = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (a warning if not loopback and no key).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    store: Annotated[str | None, typer.Option(
        "--store", help="Thread store URL (sqlite+aiosqlite:///file.db, postgresql+asyncpg://...). "
        "Default: the chat history database in $TYLER_DATA_DIR.", show_default=False)] = None,
    api_key: Annotated[list[str] | None, typer.Option(
        "--api-key", help="Require 'Authorization: Bearer KEY' (repeat for several keys; also $TYLER_API_KEYS, "
        "comma-separated).", show_default=False)] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Allow this browser origin (repeatable). Default: none.", show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes (uvicorn's worker model).")] = 1,
    heartbeat: Annotated[float, typer.Option("--heartbeat", help="Seconds between ': ping' comments on idle "
                                             "streams.")] = 15.0,
    max_body: Annotated[int, typer.Option("--max-body", help="Largest request body in bytes (413 above).")]
    = 4 * 1024 * 1024,
    max_runs: Annotated[int, typer.Option("--max-runs-per-key", help="Concurrent runs per API key (429 above).")]
    = 16,
    tool_activity: Annotated[bool, typer.Option(
        "--tool-activity", help="Show server-run tools as reasoning text in Chat Completions.")] = False,
    reasoning_alias: Annotated[bool, typer.Option(
        "--reasoning-alias", help="Chat Completions: send thinking as delta.reasoning too, beside "
        "delta.reasoning_content (for clients that read only 'reasoning').")] = False,
    open_page: Annotated[bool, typer.Option(
        "--open", help="Open the chat page (served at /) in the default browser once the server is up.")] = False,
    resumable: Annotated[bool, typer.Option(
        "--resumable", help="Runs outlive their connection: a disconnect detaches, GET /v1/runs/{id}/events "
        "resumes (Last-Event-ID), cancel is explicit. In-process unless --redis.")] = False,
    redis: Annotated[str | None, typer.Option(
        "--redis", help="Resumable runs on Redis Streams, shared by every worker and host using this URL "
        "(also $TYLER_REDIS_URL); implies --resumable.", show_default=False)] = None,
    run_retention: Annotated[float, typer.Option(
        "--run-retention", help="Seconds a finished run's events stay replayable (GET /v1/runs/{id}/events); "
        "after that a resume gets the run's final messages from the thread store.")] = 3600.0,
    run_max_events: Annotated[int, typer.Option(
        "--run-max-events", help="Events kept per run (the oldest are dropped beyond it; a resume from a dropped "
        "id gets 410).")] = 100_000,
    max_runs_per_worker: Annotated[int, typer.Option(
        "--max-runs-per-worker", help="Resumable runs one worker process drives at once; beyond it a new run "
        "waits in the Redis queue for any worker with room (in-process: 429).")] = 100,
    max_queued_runs: Annotated[int, typer.Option(
        "--max-queued-runs", help="Runs waiting in the Redis queue for a worker; one more gets 429.")] = 1000,
    redis_prefix: Annotated[str, typer.Option(
        "--redis-prefix", help="Prefix of the Redis keys: every worker of one deployment uses the same, "
        "deployments sharing a Redis each their own (or they would take each other's queued runs).")] = "tyler:",
) -> None:
    """Serve agents over HTTP: OpenAI Chat Completions and Responses, Vercel AI SDK, AG-UI, native events, threads."""
    import os

    from .serve_cmd import ServeOptions, api_keys_from, runs_option
    from .serve_cmd import serve as run_server

    options = ServeOptions(
        agent=agent, model=model, name=name, purpose=purpose, tools=tools, reasoning=reasoning, store=store,
        api_keys=api_keys_from(api_key or [], os.environ), cors_origins=list(cors_origin or []),
        heartbeat=heartbeat, max_body=max_body, max_runs_per_key=max_runs, tool_activity=tool_activity,
        reasoning_alias=reasoning_alias,
        run_retention=run_retention, run_max_events=run_max_events, max_runs_per_worker=max_runs_per_worker,
        max_queued_runs=max_queued_runs, redis_prefix=redis_prefix,
    )

    def go() -> int:
        options.runs = runs_option(resumable, redis, os.environ)
        return run_server(options, host=host, port=port, workers=workers, open_page=open_page)

    raise typer.Exit(_guarded(go))


def _guarded(action: object) -> int:
    """Run `action()`; report tyler errors on stderr as one line and turn them into exit codes."""
    from ._interrupt import say_interrupted, take_over_sigint
    from .console import err_console, user_message
    from .render import error_text

    take_over_sigint()  # from here a Ctrl-C is the command's to handle (KeyboardInterrupt)
    try:
        return int(action())  # type: ignore[operator]
    except ConfigurationError as exc:
        err_console().print(error_text("error", user_message(exc)))
        return 2
    except TylerError as exc:
        err_console().print(error_text(type(exc).__name__, str(exc)))
        return 1
    except KeyboardInterrupt:  # before the command's own handling began (still loading or setting up)
        say_interrupted()
        return 130
