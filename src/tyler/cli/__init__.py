"""The `tyler` command line: `tyler chat` (interactive) and `tyler run` (one-shot, scriptable).

Imported only by the console-script entry point, so `import tyler` never pays for typer or rich.
"""

from __future__ import annotations

import sys


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
    """Console-script entry point (`tyler = "tyler.cli:main"`)."""
    from .app import app

    args = _normalize_argv(list(sys.argv[1:] if argv is None else argv))
    app(args=args, prog_name="tyler")


__all__ = ["main"]
