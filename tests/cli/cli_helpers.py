"""Helpers of the CLI tests (a uniquely named module: every test folder has its own conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_DROP = (
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_BASE",
    "ANTHROPIC_API_KEY",
    "TYLER_MODEL",
    "TYLER_DATA_DIR",
    "LYE_WORKSPACE",
    "NO_COLOR",
    "FORCE_COLOR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "COLUMNS",
    "LINES",
)

TYLER = [sys.executable, "-m", "tyler.cli"]


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env["TYLER_DATA_DIR"] = str(tmp_path / "data")
    env["LYE_WORKSPACE"] = str(tmp_path)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["TERM"] = "xterm-256color"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_tyler(
    args: list[str], env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`tyler ARGS` with stdout/stderr as pipes (so: not a terminal)."""
    return subprocess.run(
        [*TYLER, *args],
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
