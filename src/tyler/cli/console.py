"""The two rich consoles of the CLI (stdout for answers, stderr for everything about them)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


@cache
def err_console() -> Console:
    from rich.console import Console

    # soft_wrap: an error line piped to a log must stay one line (a terminal wraps it itself).
    return Console(stderr=True, highlight=False, soft_wrap=True)
