"""Ctrl-C at the edges of the command: handing SIGINT back to Python, and the line it leaves.

A module of its own (not the package's `__init__`), so `tyler.cli.app` uses them without an
import of the package that imports it.
"""

from __future__ import annotations

import contextlib
import signal
import sys


def take_over_sigint() -> None:
    """The command's own Ctrl-C handling begins: SIGINT raises KeyboardInterrupt again.

    Until here the `tyler` launcher (`tyler_launch`) ends the process on SIGINT, so a Ctrl-C
    while modules load is one line and exit 130 instead of a traceback from inside an import.
    """
    launcher = sys.modules.get("tyler_launch")
    handler = getattr(launcher, "interrupted_while_loading", None)
    if handler is not None and signal.getsignal(signal.SIGINT) is handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def say_interrupted() -> None:
    """The one line a Ctrl-C that ends the command leaves on stderr (when nothing said it)."""
    with contextlib.suppress(OSError, ValueError):
        print("tyler: interrupted", file=sys.stderr, flush=True)
