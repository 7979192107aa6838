"""`tyler run "prompt"`: one reply, streamed to stdout, for scripts and pipes."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from ..exceptions import ConfigurationError
from ._loop import run as run_loop
from .session import AgentOptions, TurnOutcome, stream_reply

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command killed by SIGPIPE


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def read_prompt(prompt: str | None, stdin: TextIO) -> str:
    """The prompt argument, or all of stdin when it is "-" (or absent with stdin piped)."""
    if prompt == "-" or (prompt is None and not stdin.isatty()):
        try:
            text = stdin.read()
        except UnicodeDecodeError:
            text = "\udcff"  # reported below like undecodable bytes kept as surrogates
        if any("\udc80" <= ch <= "\udcff" for ch in text):  # surrogateescape: bytes that are not text
            raise ConfigurationError("the prompt on stdin is not UTF-8 text")
    elif prompt is None:
        raise ConfigurationError('no prompt: use tyler run "your prompt" (or "-" to read it from stdin)')
    else:
        text = prompt
    if not text.strip():
        raise ConfigurationError("the prompt is empty")
    return text


def attach_files(message: Any, paths: Iterable[Path]) -> None:
    """Attach each file, checked against the default file store's limits (ConfigurationError)."""
    from ..exceptions import AttachmentError
    from ..file_store import FileStore

    limits = FileStore()
    for path in paths:
        try:
            limits.check(message.add_attachment(path))
        except AttachmentError as exc:
            raise ConfigurationError(str(exc)) from exc


def run_once(options: AgentOptions, prompt: str, *, as_json: bool, attach: Iterable[Path] = ()) -> int:
    """Run one prompt; return the process exit code. Errors go to stderr."""
    from ..messages import Message, Thread
    from .console import err_console, out_console
    from .render import JsonRenderer, PlainRenderer, RichRenderer, error_text

    message = Message(role="user", content=prompt)
    attach_files(message, attach)
    agent = options.build()
    thread = Thread()
    thread.add_message(message)
    renderer: JsonRenderer | PlainRenderer | RichRenderer
    if as_json:
        renderer = JsonRenderer()
    elif sys.stdout.isatty():
        renderer = RichRenderer(out_console(), show_usage=True, errors=err_console())
    else:
        renderer = PlainRenderer()
    try:
        outcome = run_loop(stream_reply(agent, thread, renderer))
    except KeyboardInterrupt:
        renderer.interrupted()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`tyler run ... | head`): stop quietly, like other Unix tools.
        silence_stdout()
        return EXIT_BROKEN_PIPE
    if outcome is TurnOutcome.INTERRUPTED:
        return EXIT_INTERRUPTED
    if outcome is TurnOutcome.ERROR:
        # The rich renderer already printed the error (to the terminal); the others only emitted
        # it as output, and scripts look for it on stderr.
        if not isinstance(renderer, RichRenderer):
            label = renderer.stats.error_type or "error"  # plain: scripts read this line
            err_console().print(error_text(label, str(renderer.stats.error), style=""), highlight=False)
        # Configuration met only once the stream starts (no API key for the provider, a local
        # model file that does not load) is still the user's setup, not a model failure.
        return EXIT_USAGE if isinstance(renderer.stats.exception, ConfigurationError) else EXIT_FAILED
    if not isinstance(renderer, RichRenderer) and err_console().is_terminal:
        err_console().print(f"[dim]{renderer.stats.summary()}[/dim]", highlight=False)
    return EXIT_OK
