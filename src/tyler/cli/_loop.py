"""The CLI's event loop: uvloop when it is installed (the `uvloop` extra), asyncio's own otherwise.

uvloop's loop runs the same streaming code with less CPU per network read and per task step
(bench/: `ours-events-uvloop` beside `ours-events`, and `bench/cli_loop.py` for `tyler run`).
`TYLER_UVLOOP=0` keeps asyncio's loop with uvloop installed (to compare, or to rule uvloop out).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

ENV = "TYLER_UVLOOP"
_T = TypeVar("_T")


def uses_uvloop() -> bool:
    """True when the CLI runs on uvloop: installed, and not turned off with TYLER_UVLOOP=0."""
    if os.environ.get(ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the CLI's event loops."""
    if uses_uvloop():
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run(main)` on the CLI's loop (`asyncio.Runner`: Ctrl-C cancels `main` the same way)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
