"""The `tyler` command line: `tyler chat` (interactive) and `tyler run` (one-shot, scriptable).

Imported only by the console-script entry point, so `import tyler` never pays for typer or rich.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

# Kept in their own module so tyler.cli.app can use them without importing this package back.
from ._interrupt import say_interrupted as say_interrupted
from ._interrupt import take_over_sigint as take_over_sigint


def _normalize_argv(argv: list[str]) -> list[str]:
    """Let `--resume` take an optional value: alone, it means the latest conversation."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in ("--resume", "-r"):
            following = argv[i + 1] if i + 1 < len(argv) else None
            if following is None or following.startswith("-"):
                out.append("latest")
    return out


def main(argv: list[str] | None = None) -> None:
    """The CLI: run by the `tyler` command (through `tyler_launch`) and by `python -m tyler.cli`.

    Whatever goes wrong outside a command's own error handling ends as one line on stderr and an
    exit code, never a traceback: Ctrl-C while the CLI is still loading (130), output that cannot
    be written (/dev/full, a closed stdout: 1; a closed pipe: 141), input that is not text (2).
    """
    _reserve_std_fds()
    try:
        from .app import app

        args = _normalize_argv(list(sys.argv[1:] if argv is None else argv))
        try:
            app(args=args, prog_name="tyler")
        finally:
            _flush_stdout()
    except KeyboardInterrupt:
        _leave(130, "interrupted")
    except _OutputError as exc:
        _leave(141 if exc.errno == errno.EPIPE else 1, None if exc.errno == errno.EPIPE else str(exc))
    except UnicodeDecodeError:
        _leave(2, "error: the input is not UTF-8 text")
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _leave(141, None)
        _leave(1, f"error: {exc.strerror or exc}")


class _OutputError(OSError):
    """stdout could not be written."""


def _reserve_std_fds() -> None:
    """A closed stdout/stderr (`tyler run >&-`) is reopened on /dev/null before anything else.

    Left closed, descriptor 1 would be reused by the next file opened (a database!) and what the
    CLI prints would land in it. Output cannot be delivered then, so a closed stdout ends here.
    """
    for fd, name in ((2, "stderr"), (1, "stdout")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", closefd=False))  # noqa: SIM115 - lives as long as the process
            if fd == 1:
                _leave(1, "cannot write the output: stdout is closed")


def _flush_stdout() -> None:
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        raise _OutputError(exc.errno, f"cannot write the output: {exc.strerror or exc}") from None


def _leave(code: int, message: str | None) -> None:
    """Exit with `code` after one line on stderr; stdout is pointed at /dev/null so the
    interpreter's own final flush cannot fail (and print) again."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    if message:
        with contextlib.suppress(OSError, ValueError):
            print(f"tyler: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


__all__ = ["main", "say_interrupted", "take_over_sigint"]
