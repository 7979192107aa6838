"""The `tyler` command's entry point: a Ctrl-C while the CLI loads is one line and exit 130.

`from tyler.cli import main` imports the `tyler` package first (pydantic, the agent, ...), then
typer and the command's modules: a moment in which a Ctrl-C would raise KeyboardInterrupt inside
some import and print a traceback. This module is outside the `tyler` package and imports only
`os`, `signal` and `sys`, so its SIGINT handler is in place before any of that starts. Nothing
has been written or opened for writing while loading, so the handler ends the process at once.
The command hands Ctrl-C back to Python (`tyler.cli.take_over_sigint`) when its own handling
begins: the chat prompt, a streamed reply's cancellation, the server's shutdown.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

INTERRUPTED = b"tyler: interrupted\n"


def interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    """SIGINT before the command runs: one line on stderr, exit 130 (128 + SIGINT)."""
    # os.write and os._exit: the signal may land in the middle of a print or of an import's
    # cleanup, where raising (or buffered I/O) would print a traceback or "Exception ignored".
    try:
        os.write(2, INTERRUPTED)
    finally:
        os._exit(130)


def main() -> None:
    """Console-script entry point (`tyler = "tyler_launch:main"`); runs `tyler.cli.main`."""
    # Only when SIGINT has Python's default handling: an ignored SIGINT (`nohup`, `cmd &` in a
    # script) stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupted_while_loading)
    from tyler.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
