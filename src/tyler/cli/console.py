"""The two rich consoles of the CLI (stdout for answers, stderr for everything about them)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out_console() -> Console:
    from rich.console import Console

    class _OutConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with status 1 from wherever it was writing; the commands turn a closed
            # stdout into 141 (what a shell shows for SIGPIPE), so hand them the error instead.
            self.quiet = True
            raise BrokenPipeError("stdout was closed")

    return _OutConsole(highlight=False)


@cache
def err_console() -> Console:
    from rich.console import Console

    # soft_wrap: an error line piped to a log must stay one line (a terminal wraps it itself).
    return Console(stderr=True, highlight=False, soft_wrap=True)


def user_message(exc: BaseException) -> str:
    """An error as the CLI user should read it: flags and environment variables, not Python."""
    from ..exceptions import MissingAPIKeyError

    if isinstance(exc, MissingAPIKeyError):
        return (
            f"missing API key: {exc.model} is served by {exc.provider}; set {exc.env_var} "
            "(or choose another model with --model or TYLER_MODEL)"
        )
    return str(exc)


@contextmanager
def keys_not_echoed() -> Iterator[None]:
    """While a reply streams, the terminal does not echo what the user types (Ctrl-C included).

    The terminal would print "^C" or typed-ahead text where rich's live region has its cursor;
    a character past the last column wraps onto a new line the live region does not know about,
    and its next redraw then leaves a duplicate of the line above on screen. Typed-ahead text is
    still buffered and reaches the next prompt. Signals (ISIG) stay on, so Ctrl-C still works.
    """
    try:
        import termios
    except ImportError:  # not a POSIX terminal: nothing to switch off
        yield
        return
    saved = _echo_off(termios)
    try:
        yield
    finally:
        if saved is not None:
            with suppress(OSError, termios.error):
                termios.tcsetattr(saved[0], termios.TCSANOW, saved[1])


def _echo_off(termios: Any) -> tuple[int, list[Any]] | None:
    """Turn off echo on stdin's terminal; return (fd, previous attributes), or None if untouched."""
    try:
        fd = sys.stdin.fileno()
        # Only the foreground process may change the terminal (a background one would be stopped
        # by SIGTTOU).
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return None
        attrs = termios.tcgetattr(fd)
        quiet = list(attrs)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (AttributeError, OSError, ValueError, termios.error):  # no stdin, or not a terminal
        return None
    return fd, attrs
