"""CLI tests run the real `tyler` command in a subprocess (or a pty) against the fake model server.

`cli_env` is a complete environment for that subprocess: provider variables point at the fake
server, TYLER_MODEL selects an OpenAI-style model, TYLER_DATA_DIR keeps the chat history in the
test's temp dir, and LYE_WORKSPACE confines file tools to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_pty import PtyProcess

from tyler.testing import FakeModelServer

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


@pytest.fixture
def cli_env(fake_server: FakeModelServer, tmp_path: Path) -> dict[str, str]:
    env = base_env(tmp_path)
    env.update(fake_server.env())
    env["TYLER_MODEL"] = "gpt-4o"
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


@pytest.fixture
def spawn() -> Iterator[object]:
    """spawn(args, env) -> PtyProcess running `tyler ARGS` in a terminal; killed at teardown."""
    started: list[PtyProcess] = []

    def start(args: list[str], env: dict[str, str]) -> PtyProcess:
        proc = PtyProcess([*TYLER, *args], env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()
