"""Tool approval in the terminal: tools that change things ask y/n inline before they run.

In `tyler chat` and `tyler run`, every loaded tool outside the read-only defaults (e.g.
files-write) requires approval. The question goes to stderr and the answer is read from the
terminal through the event loop (not a blocked thread), so Ctrl-C during the question stops the
reply like anywhere else and leaves no reader behind to swallow the next prompt's line. Without a
terminal on stdin (pipes, scripts) nobody can answer: the call is denied, and the model told why.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from rich.markup import escape

from ..tools import dict_tool_name
from .config import DEFAULT_TOOL_NAMES
from .console import err_console
from .render import abbreviate

_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
NO_TERMINAL = "there is no terminal to ask the user for approval (stdin is not a terminal)"


def guard(tools: list[Any]) -> list[Any]:
    """The tools, with every one outside the read-only defaults requiring approval."""
    return [
        tool if dict_tool_name(tool) in DEFAULT_TOOL_NAMES else {**tool, "requires_approval": True}
        for tool in tools
    ]


async def ask(request: Any) -> tuple[bool, str | None]:
    """The approval handler of the CLI's agents."""
    fd = _tty_fd()
    if fd is None:
        return False, NO_TERMINAL
    console = err_console()
    args = escape(abbreviate(request.arguments, 300, 4))
    console.print(f"[bold yellow]allow[/bold yellow] {escape(request.tool_name)}({args})? \\[y/N] ", end="")
    # The chat keeps bracketed paste on while a reply streams: a pasted answer comes in markers.
    answer = (await _read_line(fd)).replace(_PASTE_START, "").replace(_PASTE_END, "").strip().lower()
    approved = answer in ("y", "yes")
    console.print("yes" if approved else "no", highlight=False)
    return approved, None if approved else "the user answered no"


def _tty_fd() -> int | None:
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if os.isatty(fd) else None


async def _read_line(fd: int) -> str:
    """One line typed at the terminal (canonical mode hands it over whole), read without a thread."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[bytes] = loop.create_future()

    def readable() -> None:
        if not line.done():
            try:
                line.set_result(os.read(fd, 4096))
            except OSError as exc:
                line.set_exception(exc)

    loop.add_reader(fd, readable)
    try:
        return (await line).decode("utf-8", errors="replace")
    finally:
        loop.remove_reader(fd)
